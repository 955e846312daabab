"""One run without pytest: gather the evidence, evaluate every requirement, save and load facts."""

"""The organisation a lab simulates: the scenario file's model (``model``), the named faults that
break it (``faults``), generated organisations of N servers (``generated``) and the scenarios the
package carries by name (``names``)."""

"""A MultiValuedProperty's items come back in the same deserialization pass as the rest of the
object, their references to type-name lists and to objects defined earlier resolved."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from pypsrp.serializer import Serializer

from cas_conformance.channels.psrp import RemoteObject, _from_library, _ListSerializer

# Shaped as Exchange 2010 sends Get-OutlookAnywhere: IISAuthenticationMethods is a
# MultiValuedProperty whose items are the enumeration objects ClientAuthenticationMethod defined
# (Ref), with the enumeration's type names given once (TNRef).
CLIXML = """<Obj RefId="0">
  <TN RefId="0"><T>Microsoft.Exchange.Data.Directory.SystemConfiguration.ADRpcHttpVirtualDirectory</T><T>System.Object</T></TN>
  <ToString>CAS01\\Rpc (Default Web Site)</ToString>
  <Props>
    <Obj N="ClientAuthenticationMethod" RefId="1">
      <TN RefId="1"><T>Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthenticationMethod</T><T>System.Enum</T><T>System.Object</T></TN>
      <ToString>Basic</ToString><I32>0</I32>
    </Obj>
    <Obj N="IISAuthenticationMethods" RefId="2">
      <TN RefId="2"><T>Microsoft.Exchange.Data.MultiValuedProperty`1[[Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthenticationMethod]]</T><T>System.Object</T></TN>
      <LST>
        <Ref RefId="1" />
        <Obj RefId="3"><TNRef RefId="1" /><ToString>Ntlm</ToString><I32>2</I32></Obj>
      </LST>
    </Obj>
    <Obj N="ExternalHostname" RefId="4"><TNRef RefId="2" /><LST><S>mail.contoso.com</S></LST></Obj>
  </Props>
</Obj>"""


def _read(serializer: Serializer) -> RemoteObject:
    value: RemoteObject = _from_library(serializer.deserialize(ET.fromstring(CLIXML)))
    return value


def test_list_items_come_back_with_their_references_resolved() -> None:
    value = _read(_ListSerializer())
    methods = value["IISAuthenticationMethods"]
    assert [(str(m), m.value) for m in methods.items] == [("Basic", 0), ("Ntlm", 2)]
    assert methods.items[1].type_names[0].endswith("AuthenticationMethod")
    assert [str(h) for h in value["ExternalHostname"].items] == ["mail.contoso.com"]


def test_pypsrp_own_serializer_leaves_the_list_as_text() -> None:
    """Why the pool's serializer is replaced: pypsrp 0.9's own leaves the items unread."""
    value = _read(Serializer())
    assert value["IISAuthenticationMethods"].items == ()

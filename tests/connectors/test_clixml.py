"""CLIXML on stderr becomes readable text, whatever the chunking, and nothing else is touched."""

from __future__ import annotations

import pytest

from app.connectors.clixml import ClixmlDecoder, unescape

OBJS = '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
PROGRESS = (
    '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject'
    '</T><T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing '
    "modules for first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T>"
    "<SR>-1</SR><SD> </SD></PR></MS></Obj>"
)
STREAM = (
    "#< CLIXML\r\n"
    + OBJS
    + PROGRESS
    + '<S S="Error">Get-Item : Cannot find path _x0027_C:\\nope_x0027__x000D__x000A_</S>'
    + '<S S="Error">    + CategoryInfo : ObjectNotFound_x000D__x000A_</S>'
    + '<S S="warning">disk at 91%</S>'
    + '<S S="verbose">connecting</S>'
    + '<Obj S="information" RefId="1"><TN RefId="1"><T>System.Management.Automation.'
    "InformationRecord</T></TN><ToString>hello from Write-Host</ToString></Obj>" + "</Objs>"
).encode()
EXPECTED = (
    b"Get-Item : Cannot find path 'C:\\nope'\r\n"
    b"    + CategoryInfo : ObjectNotFound\r\n"
    b"WARNING: disk at 91%\r\n"
    b"VERBOSE: connecting\r\n"
    b"hello from Write-Host\r\n"
)


@pytest.mark.parametrize("size", [1, 7, 64, len(STREAM)])
def test_records_become_text_whatever_the_chunking(size: int) -> None:
    decoder = ClixmlDecoder()
    out = b"".join(decoder.feed(STREAM[i : i + size]) for i in range(0, len(STREAM), size))
    assert out + decoder.close() == EXPECTED


def test_each_record_comes_out_as_soon_as_it_is_complete() -> None:
    decoder = ClixmlDecoder()
    assert decoder.feed(b"#< CLIXML\r\n" + OBJS.encode()) == b""
    assert decoder.feed(b'<S S="Error">first_x000D__x000A_</S>') == b"first\r\n"
    assert decoder.feed(b'<S S="Error">sec') == b""
    assert decoder.feed(b"ond_x000D__x000A_</S>") == b"second\r\n"


def test_plain_stderr_passes_through() -> None:
    decoder = ClixmlDecoder()
    assert decoder.feed(b"#") == b""  # could still be the header
    assert decoder.feed(b" not xml\r\n") == b"# not xml\r\n"
    assert decoder.feed(b"<S>") == b"<S>"


def test_after_the_document_plain_stderr_is_plain_again() -> None:
    decoder = ClixmlDecoder()
    decoder.feed(b"#< CLIXML\r\n" + OBJS.encode() + b'<S S="Error">x</S></Objs>')
    assert decoder.feed(b"native tool failed\r\n") == b"native tool failed\r\n"


def test_malformed_xml_and_doctypes_are_shown_raw_never_expanded() -> None:
    decoder = ClixmlDecoder()
    decoder.feed(b"#< CLIXML\r\n" + OBJS.encode())
    assert decoder.feed(b"<S S='Error'>a</Q>") == b"<S S='Error'>a</Q>"
    assert decoder.feed(b"and the rest") == b"and the rest"

    hostile = ClixmlDecoder()
    payload = b'<!DOCTYPE x [<!ENTITY a "aaaa">]><Objs>&a;</Objs>'
    assert hostile.feed(b"#< CLIXML\r\n" + payload) == payload
    split = ClixmlDecoder()
    assert split.feed(b"#< CLIXML\r\n<") == b""
    assert split.feed(payload[1:]) == payload[1:]


def test_an_unfinished_header_is_returned_at_the_end() -> None:
    decoder = ClixmlDecoder()
    assert decoder.feed(b"#< CLI") == b""
    assert decoder.close() == b"#< CLI"


def test_unescape() -> None:
    assert unescape("a_x000D__x000A_b_x005F_c") == "a\r\nb_c"

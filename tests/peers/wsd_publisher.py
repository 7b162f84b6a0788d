#!/usr/bin/env python3
"""A third-party WS-Discovery device for the Hello/Bye test: PyPI's WSDiscovery (2.1.2)
publishing an ONVIF camera (types dn:NetworkVideoTransmitter and tds:Device, ONVIF scopes, one
device-service address). Publishing multicasts a Hello; on stdin close the service is
withdrawn, which multicasts a Bye, and the script exits once both have been sent.

It joins the multicast group and sends to 239.255.255.250 on every interface it sees: run it
only inside a network namespace the test created.

Usage: wsd_publisher.py --uuid URN --name NAME --xaddr URL
Prints `READY` once the Hello is queued. Exit status 77: WSDiscovery is not installed.
"""

import argparse
import sys
import urllib.parse

try:
    from wsdiscovery import QName, Scope
    from wsdiscovery.publishing import ThreadedWSPublishing
except ImportError as e:
    print(f"WSDiscovery is not installed ({e}): pip install WSDiscovery==2.1.2", file=sys.stderr)
    sys.exit(77)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--uuid", required=True, help="endpoint address, urn:uuid:...")
    p.add_argument("--name", required=True, help="the ONVIF name scope")
    p.add_argument("--xaddr", required=True, help="the device service URL")
    a = p.parse_args()

    publisher = ThreadedWSPublishing(uuid_=a.uuid)
    publisher.start()
    types = [
        QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dn"),
        QName("http://www.onvif.org/ver10/device/wsdl", "Device", "tds"),
    ]
    scopes = [
        Scope("onvif://www.onvif.org/type/video_encoder"),
        Scope("onvif://www.onvif.org/name/" + urllib.parse.quote(a.name)),
    ]
    publisher.publishService(types=types, scopes=scopes, xAddrs=[a.xaddr])
    print("READY", flush=True)
    sys.stdin.read()
    # Bye for every published service; stopping waits until the send queue is empty.
    publisher.clearLocalServices()
    publisher.stop()


if __name__ == "__main__":
    main()

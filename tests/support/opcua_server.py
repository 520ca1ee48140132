"""A CNC as a third-party OPC UA server (python asyncua) for the end-to-end tests.

Started by tests/support/asyncua.rs. It serves, in namespace urn:green-machining:test-cnc, the
nodes the test names on its command line, NAME[#ID]=VALUE:
  - NAME without '/' is a variable of the object CNC; NAME with '/' is a path from the Objects
    folder, its objects made as needed (`MachineTool/Monitoring/Spindle/IsRotating`);
  - #ID gives the variable a numeric node id (ns=NS;i=ID); without it the node id is the string
    NAME with '/' as '.';
  - VALUE: a float (Double), `i32:N` (Int32), `nan`, `inf`, `-inf`, `true`, `false`, a text in
    quotes, or `bad:StatusName` for a node whose value carries that Bad status.
With `--secure DIR` first, the only endpoint is Basic256Sha256 / SignAndEncrypt: the server's
key and certificate are DIR/server_key.pem and DIR/server_cert.der (made if missing) and it
accepts only client certificates in DIR/trusted.
It listens on a free loopback port and prints `listening opc.tcp://127.0.0.1:PORT/ NS` once it
serves (NS: the namespace's index). Then it reads commands on standard input, one a line, and
answers each with one line:

  set NAME VALUE       -> ok             (VALUE as above)
  sessions             -> sessions OPEN SEEN MAX
                          OPEN: sessions open now; SEEN: sessions ever seen; MAX: the most
                          open at once (sampled every 10 ms)
  stall-reads SECONDS  -> ok             (every Read of a client waits that long; 0: none)

It ends when standard input closes.
"""

import asyncio
import sys
from pathlib import Path

from asyncua import Server, ua
from asyncua.common.callback import CallbackType

NAMESPACE = "urn:green-machining:test-cnc"


def parse(text):
    """A value as the command line or a command gives it: (Variant or None, status)."""
    if text.startswith("bad:"):
        status = ua.StatusCode(getattr(ua.StatusCodes, text[4:]))
        return ua.Variant(0.0, ua.VariantType.Double), status
    if text in ("true", "false"):
        return ua.Variant(text == "true", ua.VariantType.Boolean), None
    if text.startswith("i32:"):
        return ua.Variant(int(text[4:]), ua.VariantType.Int32), None
    if text.startswith('"') and text.endswith('"'):
        return ua.Variant(text[1:-1], ua.VariantType.String), None
    return ua.Variant(float(text), ua.VariantType.Double), None


async def write(node, text):
    variant, status = parse(text)
    dv = ua.DataValue(variant) if status is None else ua.DataValue(variant, StatusCode=status)
    await node.write_value(dv)


async def secure(server, directory):
    """Basic256Sha256 / SignAndEncrypt only, trusting the client certificates in
    directory/trusted (the trust list on the server's side)."""
    from asyncua.crypto.cert_gen import setup_self_signed_certificate
    from asyncua.crypto.truststore import TrustStore
    from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
    from cryptography.x509.oid import ExtendedKeyUsageOID

    uri = "urn:green-machining:test-cnc"
    await server.set_application_uri(uri)
    key, cert = directory / "server_key.pem", directory / "server_cert.der"
    await setup_self_signed_certificate(
        key, cert, uri, "127.0.0.1", [ExtendedKeyUsageOID.SERVER_AUTH], {"commonName": "test-cnc"}
    )
    await server.load_certificate(str(cert))
    await server.load_private_key(str(key))
    server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
    trusted = directory / "trusted"
    trusted.mkdir(exist_ok=True)
    if not any(trusted.iterdir()):
        # An empty trust list trusts nobody (asyncua cannot build an empty store).
        async def nobody(_cert, _app_description):
            raise ua.uaerrors.BadCertificateUntrusted()

        server.set_certificate_validator(nobody)
        return
    store = TrustStore([trusted], [])
    await store.load()
    # The trust list is the point: a client whose certificate is not in it is refused.
    options = CertificateValidatorOptions.TRUSTED | CertificateValidatorOptions.TIME_RANGE
    server.set_certificate_validator(CertificateValidator(options, store))


async def main():
    args = sys.argv[1:]
    server = Server()
    await server.init()
    server.set_endpoint("opc.tcp://127.0.0.1:0/")
    if args[:1] == ["--secure"]:
        await secure(server, Path(args[1]))
        args = args[2:]
    else:
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    idx = await server.register_namespace(NAMESPACE)
    cnc = await server.nodes.objects.add_object(idx, "CNC")
    objects = {}
    nodes = {}
    values = []
    for arg in args:
        spec, text = arg.split("=", 1)
        name, _, number = spec.partition("#")
        variant, _ = parse(text)
        if "/" in name:
            parts = name.split("/")
            parent = server.nodes.objects
            for i in range(len(parts) - 1):
                path = "/".join(parts[: i + 1])
                if path not in objects:
                    objects[path] = await parent.add_object(
                        ua.NodeId(path.replace("/", "."), idx), parts[i]
                    )
                parent = objects[path]
            browse = parts[-1]
        else:
            parent, browse = cnc, name
        node_id = ua.NodeId(int(number), idx) if number else ua.NodeId(name.replace("/", "."), idx)
        nodes[name] = await parent.add_variable(node_id, browse, variant)
        values.append((name, text))
    await server.start()
    for name, text in values:
        await write(nodes[name], text)

    # Sessions of clients, as the server keeps them. asyncua keeps a session that has
    # subscriptions after its connection is lost (OPC UA Part 4 §6.7), until CloseSession or its
    # timeout: exactly what a client that drops sessions without closing them leaves behind.
    # The registry is internal to asyncua; the version is pinned by the test (asyncua.rs).
    seen, most = set(), 0

    async def sample():
        nonlocal most
        while True:
            open_now = list(server.iserver._external_sessions.keys())
            seen.update(str(k) for k in open_now)
            most = max(most, len(open_now))
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())

    stall = 0.0

    async def pre_read(event, _dispatcher):
        # Only reads of the test's own nodes: the client's keep-alive (a read of the server's
        # state) goes on, so only the test's periodic read fails. asyncua answers a
        # connection's requests in order, so a request sent after a stalled read waits for it.
        ours = any(r.NodeId.NamespaceIndex == idx for r in event.request_params.NodesToRead)
        if event.is_external and stall > 0 and ours:
            await asyncio.sleep(stall)

    server.subscribe_server_callback(CallbackType.PreRead, pre_read)

    port = server.bserver.port
    print(f"listening opc.tcp://127.0.0.1:{port}/ {idx}", flush=True)

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode()
        if not line:
            break
        words = line.split()
        if not words:
            continue
        if words[0] == "set":
            await write(nodes[words[1]], " ".join(words[2:]))
            print("ok", flush=True)
        elif words[0] == "sessions":
            await asyncio.sleep(0.02)  # one more sample first
            n = len(server.iserver._external_sessions)
            print(f"sessions {n} {len(seen)} {most}", flush=True)
        elif words[0] == "stall-reads":
            stall = float(words[1])
            print("ok", flush=True)
        else:
            print(f"error unknown command {words[0]}", flush=True)
    sampler.cancel()
    await server.stop()


if __name__ == "__main__":
    # asyncio's own debug noise stays off; errors still reach stderr.
    asyncio.run(main())

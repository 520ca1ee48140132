"""A CNC as a third-party OPC UA server (python asyncua) for the end-to-end tests.

Started by tests/support/asyncua.rs. It serves, in namespace urn:green-machining:test-cnc, the
nodes the test names on its command line (NAME=VALUE: a float, `nan`, `inf`, `-inf`, `true`,
`false`, a text in quotes, or `bad:StatusName` for a node whose value carries that Bad status),
listens on a free loopback port and prints `listening opc.tcp://127.0.0.1:PORT/ NS` once it
serves (NS: the namespace's index). Then it reads commands on standard input, one a line, and answers each with one line:

  set NAME VALUE       -> ok             (VALUE as above)
  sessions             -> sessions OPEN SEEN MAX
                          OPEN: sessions open now; SEEN: sessions ever seen; MAX: the most
                          open at once (sampled every 10 ms)
  stall-reads SECONDS  -> ok             (a client's Read of these nodes waits that long; 0: none)

It ends when standard input closes.
"""

import asyncio
import sys

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
    if text.startswith('"') and text.endswith('"'):
        return ua.Variant(text[1:-1], ua.VariantType.String), None
    return ua.Variant(float(text), ua.VariantType.Double), None


async def write(node, text):
    variant, status = parse(text)
    dv = ua.DataValue(variant) if status is None else ua.DataValue(variant, StatusCode=status)
    await node.write_value(dv)


async def main():
    server = Server()
    await server.init()
    server.set_endpoint("opc.tcp://127.0.0.1:0/")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    idx = await server.register_namespace(NAMESPACE)
    cnc = await server.nodes.objects.add_object(idx, "CNC")
    nodes = {}
    for arg in sys.argv[1:]:
        name, text = arg.split("=", 1)
        variant, _ = parse(text)
        nodes[name] = await cnc.add_variable(ua.NodeId(name, idx), name, variant)
    await server.start()
    for name, arg in ((a.split("=", 1)[0], a.split("=", 1)[1]) for a in sys.argv[1:]):
        await write(nodes[name], arg)

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

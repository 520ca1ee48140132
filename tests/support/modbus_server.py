"""An MQL unit as a third-party Modbus TCP server (python pymodbus) for the end-to-end tests.

Started by tests/support/pymodbus.rs. Unit 1 has 100 holding and 100 input registers, all 0.
It listens on a free loopback port and prints `listening 127.0.0.1:PORT` once it serves. Then
it reads commands on standard input, one a line, and answers each with one line:

  set TABLE ADDRESS TYPE VALUE  -> ok
      TABLE: holding or input; ADDRESS: zero-based protocol address;
      TYPE: u16, or f32 / f32cdab (a float over two registers, ABCD or CDAB word order)
  walk N MS                     -> ok
      from now on, holding registers 0..N-1 count up by one every MS milliseconds (register
      r holds k + r in the k-th period): values that change, for the footprint benchmark

It ends when standard input closes.
"""

import asyncio
import struct
import sys

from pymodbus.datastore import (
    ModbusSequentialDataBlock,
    ModbusServerContext,
    ModbusSlaveContext,
)
from pymodbus.server import ModbusTcpServer

# Function codes the datastore is addressed by: 3 holding registers, 4 input registers.
TABLES = {"holding": 3, "input": 4}


def words(kind, text):
    if kind == "u16":
        return [int(text) & 0xFFFF]
    hi, lo = struct.unpack(">HH", struct.pack(">f", float(text)))
    if kind == "f32":
        return [hi, lo]
    if kind == "f32cdab":
        return [lo, hi]
    raise ValueError(kind)


async def main():
    unit = ModbusSlaveContext(
        hr=ModbusSequentialDataBlock(0, [0] * 101),
        ir=ModbusSequentialDataBlock(0, [0] * 101),
    )
    context = ModbusServerContext(slaves={1: unit}, single=False)
    server = ModbusTcpServer(context, address=("127.0.0.1", 0))
    await server.listen()
    host, port = server.transport.sockets[0].getsockname()[:2]
    print(f"listening {host}:{port}", flush=True)

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode()
        if not line:
            break
        w = line.split()
        if not w:
            continue
        if w[0] == "walk" and len(w) == 3:
            n, ms = int(w[1]), int(w[2])

            async def walk():
                k = 0
                while True:
                    unit.setValues(3, 0, [(k + r) & 0xFFFF for r in range(n)])
                    k += 1
                    await asyncio.sleep(ms / 1000)

            loop.create_task(walk())
            print("ok", flush=True)
        elif w[0] == "set" and len(w) == 5:
            # The datastore adds one to the protocol address itself.
            unit.setValues(TABLES[w[1]], int(w[2]), words(w[3], w[4]))
            print("ok", flush=True)
        else:
            print(f"error {line.strip()}", flush=True)
    await server.shutdown()


if __name__ == "__main__":
    asyncio.run(main())

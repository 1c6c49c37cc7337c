"""The long-poll benchmark's phones (``bench.longpoll``), in a process of their own: each one
long-polls ``GET /sdk/v1/messages?wait=…`` over a kept-alive HTTP/1.1 connection and polls
again as soon as it is answered, as the SDK does. Raw asyncio streams on uvloop, so that ten
thousand of them cost this process little and the server's figures are the server's.

``python -m bench.pollclient HOST PORT ACCESS_ID ACCESS_KEY TOKENS_FILE WAIT OUT_FILE``: prints
``connected N`` once every phone has sent its first poll and ``answered N`` whenever the number
of answers with notifications changes, then runs until SIGTERM, and writes
``OUT_FILE``: ``{"answers": [[token, unix time, [push_id, …]], …], "errors": n}`` of every answer
that held notifications.
"""

import asyncio
import json
import signal
import sys
import time

import uvloop


async def phone(host, port, headers: bytes, token: str, wait: int, answers, errors, stop):
    after = 0
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            errors[0] += 1
            await asyncio.sleep(1)
            continue
        try:
            while not stop.is_set():
                query = f"token={token}&after={after}&wait={wait}"
                writer.write(f"GET /sdk/v1/messages?{query} HTTP/1.1\r\n".encode() + headers)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = json.loads(await reader.readexactly(length))
                if not head.startswith(b"HTTP/1.1 200"):
                    errors[0] += 1
                    await asyncio.sleep(1)
                    continue
                if body["messages"]:
                    answers.append((token, time.time(), [m["push_id"] for m in body["messages"]]))
                after = body["next"]
        except (OSError, asyncio.IncompleteReadError, ValueError):
            if not stop.is_set():
                errors[0] += 1
                await asyncio.sleep(0.5)
        finally:
            writer.close()


async def main(host, port, access_id, access_key, tokens_file, wait, out_file):
    tokens = open(tokens_file).read().split()
    headers = (
        f"Host: {host}\r\nX-Access-Id: {access_id}\r\nX-Access-Key: {access_key}\r\n\r\n"
    ).encode()
    answers, errors, stop = [], [0], asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    tasks = []
    for start in range(0, len(tokens), 500):  # not all at once: the listen queue is finite
        for token in tokens[start : start + 500]:
            tasks.append(
                asyncio.create_task(
                    phone(host, port, headers, token, int(wait), answers, errors, stop)
                )
            )
        await asyncio.sleep(0.05)
    print(f"connected {len(tasks)}", flush=True)

    async def report():  # how many answers with notifications so far, as they change
        told = -1
        while True:
            if len(answers) != told:
                told = len(answers)
                print(f"answered {told}", flush=True)
            await asyncio.sleep(0.2)

    reporter = asyncio.create_task(report())
    await stop.wait()
    reporter.cancel()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    with open(out_file, "w") as out:
        json.dump({"answers": answers, "errors": errors[0]}, out)


if __name__ == "__main__":
    uvloop.run(main(*sys.argv[1:]))

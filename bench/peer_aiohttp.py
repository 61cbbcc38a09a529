#!/usr/bin/python3
"""The aiohttp peer: what a Python user writes for "fetch these URLs
concurrently".  One ClientSession, a semaphore of C, asyncio.gather with
return_exceptions=True; each body is read in full and dropped.

usage: peer_aiohttp.py URLFILE C [CAFILE]
prints: "aiohttp: N ok, M failed, W s"
"""
import asyncio
import ssl
import sys
import time

import aiohttp


async def main(urls, conc, cafile):
    sem = asyncio.Semaphore(conc)
    sslctx = ssl.create_default_context(cafile=cafile) if cafile else None
    conn = aiohttp.TCPConnector(limit=conc, limit_per_host=0, ssl=sslctx)
    timeout = aiohttp.ClientTimeout(total=30)

    async def one(session, url):
        async with sem:
            async with session.get(url) as resp:
                await resp.read()
                return resp.status

    async with aiohttp.ClientSession(connector=conn,
                                     timeout=timeout) as session:
        return await asyncio.gather(*(one(session, u) for u in urls),
                                    return_exceptions=True)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        urls = [l.strip() for l in f if l.strip()]
    conc = int(sys.argv[2])
    cafile = sys.argv[3] if len(sys.argv) > 3 else None
    t0 = time.monotonic()
    res = asyncio.run(main(urls, conc, cafile))
    wall = time.monotonic() - t0
    ok = sum(1 for r in res if isinstance(r, int) and 200 <= r < 300)
    print("aiohttp: %d ok, %d failed, %.3f s" % (ok, len(res) - ok, wall))
    sys.exit(0 if ok == len(res) else 1)

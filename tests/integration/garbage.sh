#!/usr/bin/env bash
# Hostile input on the control socket: invalid JSON, wrong types, a wrong
# protocol version, an unknown command, binary junk and a 2 MiB line each
# get a coded error reply; the same connection and other clients go on,
# and the daemon still answers ping.
. "$(dirname "$0")/../lib.sh"
t_init garbage
t_fetchd

/usr/bin/python3 - "$FETCHD_SOCKET" <<'PY' || t_fail "protocol checks failed"
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)
f = s.makefile("rb")
def ask(raw):
    s.sendall(raw)
    return json.loads(f.readline())
r = ask(b'this is not json\n');            assert r["error"]["code"] == "bad_request", r
r = ask(b'[1,2,3]\n');                     assert r["error"]["code"] == "bad_request", r
r = ask(b'{"v":1,"id":5,"cmd":42}\n');     assert r["error"]["code"] == "bad_request" and r["id"] == 5, r
r = ask(b'{"v":2,"id":6,"cmd":"ping"}\n'); assert r["error"]["code"] == "unsupported_version", r
assert "2" in r["error"]["message"] and "1" in r["error"]["message"], r
r = ask(b'{"v":1,"id":7,"cmd":"frobnicate"}\n'); assert r["error"]["code"] == "unknown_command", r
r = ask(b'\x00\xff\xfe garbage \x01\n');  assert r["error"]["code"] == "bad_request", r
r = ask(b'{"v":1,"id":8,"cmd":"status","job":"nope"}\n'); assert r["error"]["code"] == "no_such_job", r
r = ask(b'{"v":1,"id":9,"cmd":"submit","text":5}\n'); assert r["error"]["code"] == "bad_request", r
r = ask(b'{"v":1,"id":10,"cmd":"submit","file":"x.conf","text":"' + b'a' * (2 << 20) + b'"}\n')
assert r["error"]["code"] == "too_large", r
# another client meanwhile
c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1])
c.sendall(b'{"v":1,"id":1,"cmd":"ping"}\n')
assert json.loads(c.makefile("rb").readline())["ok"] is True
r = ask(b'{"v":1,"id":11,"cmd":"ping"}\n'); assert r["ok"] is True and r["id"] == 11, r
# a client that vanishes mid-request
d = socket.socket(socket.AF_UNIX); d.connect(sys.argv[1]); d.sendall(b'{"v":1,"id":1,"cm'); d.close()
PY
t_ctl ping > /dev/null || t_fail "daemon does not answer ping after garbage"
kill -0 "$FETCHD_PID" || t_fail "daemon died"
t_stop_fetchd
t_pass

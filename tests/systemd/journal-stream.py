#!/usr/bin/env python3
"""journal-stream.py IDENTIFIER CMD...: run CMD with its stdout and stderr
connected to journald's stream socket and JOURNAL_STREAM set to that
socket's device:inode, exactly as systemd does for a service with
StandardError=journal.  (systemd-cat 252 connects the stream but does not
set JOURNAL_STREAM, so a program cannot tell it is talking to the journal.)
"""
import os
import socket
import sys

SOCK = "/run/systemd/journal/stdout"

ident, argv = sys.argv[1], sys.argv[2:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(SOCK)
s.shutdown(socket.SHUT_RD)
# identifier, unit id, priority, level prefix, syslog, kmsg, console
s.sendall(("%s\n\n6\n1\n0\n0\n0\n" % ident).encode())
st = os.fstat(s.fileno())
os.dup2(s.fileno(), 1)
os.dup2(s.fileno(), 2)
s.close()
os.environ["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
os.execv(argv[0], argv)

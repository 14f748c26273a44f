"""What a Python handler can reach of the machine: nothing. In `probe begin` it tries a file,
a directory, the environment, the clock and a socket, and prints what it got; then print(),
which WASI routes into wprobe's output. tests/all/languages.rs checks the answers."""
import os
import time
from wprobe import *


def attempt(what, f):
    try:
        printf("%s: %s\n", what, f())
    except Exception as e:
        printf("%s: error: %s\n", what, type(e).__name__)


def connect():
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect(("127.0.0.1", 22))
    return "connected"


@handler
class Sandbox(Handler):
    def __init__(self, session):
        attempt("open /etc/hostname", lambda: open("/etc/hostname").read())
        attempt("listdir /", lambda: os.listdir("/"))
        printf("getenv PATH: %s\n", os.environ.get("PATH"))
        printf("env vars: %d\n", len(os.environ))
        printf("time: %d\n", int(time.time()))
        attempt("connect", connect)
        print("print: into the output")

    def event(self):
        printf("event: pid %d\n", pid())

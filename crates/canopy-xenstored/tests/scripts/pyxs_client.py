"""Drives canopy-xenstored with pyxs (the socket is $XENSTORED_PATH).

Checks reads, writes, listing, permissions, a watch, and transactions: two clients
increment one counter in interleaved transactions; the loser's commit answers EAGAIN
and it retries, so no increment is lost.
"""
import sys

from pyxs import Client, PyXSError

with Client() as c:
    c.write(b"/py/a", b"1")
    c.write(b"/py/b", b"two")
    assert c.read(b"/py/a") == b"1", c.read(b"/py/a")
    assert sorted(c.list(b"/py")) == [b"a", b"b"], c.list(b"/py")
    assert c.exists(b"/py/b") and not c.exists(b"/py/zzz")
    c.set_perms(b"/py/b", [b"b3", b"r5"])
    assert c.get_perms(b"/py/b") == [b"b3", b"r5"], c.get_perms(b"/py/b")
    try:
        c.read(b"/py/missing")
        sys.exit("reading a missing node did not fail")
    except PyXSError as e:
        assert e.args[0] == 2, e  # ENOENT
    c.delete(b"/py/b")
    assert not c.exists(b"/py/b")
    assert c.get_domain_path(7) == b"/local/domain/7"

    with c.monitor() as m:
        m.watch(b"/py", b"tok")
        events = m.wait()
        assert next(events) == (b"/py", b"tok")  # the initial event
        c.write(b"/py/w", b"x")
        path, token = next(events)
        while path != b"/py/w":
            path, token = next(events)
        assert token == b"tok"

c1, c2 = Client(), Client()
c1.connect()
c2.connect()
c1.write(b"/py/counter", b"0")

def bump(client):
    v = int(client.read(b"/py/counter"))
    client.write(b"/py/counter", str(v + 1).encode())

# c1 and c2 both read 0 and write 1: the second commit must be refused.
c1.transaction()
c2.transaction()
bump(c1)
bump(c2)
assert c1.commit() is True
assert c2.commit() is False, "a stale transaction committed"
retries = 0
while True:
    c2.transaction()
    bump(c2)
    if c2.commit():
        break
    retries += 1
assert c1.read(b"/py/counter") == b"2", c1.read(b"/py/counter")

# A transaction that is rolled back leaves nothing.
c1.transaction()
c1.write(b"/py/rolled-back", b"x")
c1.rollback()
assert not c1.exists(b"/py/rolled-back")
c1.close()
c2.close()
print("pyxs ok")

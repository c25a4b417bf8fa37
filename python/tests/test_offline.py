"""Headless sync scenarios written only through the Python binding."""

import threading
import time

import pytest

from offsync import Client, OffsyncError, Server, INVALID_ARGUMENT
from offsync.testing import Network, reopen


@pytest.fixture
def cloud(tmp_path):
    with Server.open(tmp_path / "server.db") as s:
        yield s


def test_offline_writes_survive_a_restart_and_reach_the_server_once_online(cloud, tmp_path):
    net = Network(cloud)
    phone_path = tmp_path / "phone.db"
    phone = Client.open(phone_path, exchange=net)
    net.offline()
    ids = [phone.put("notes", f"n{i}", {"title": f"offline {i}"}) for i in range(3)]
    phone.patch("notes", "n0", {"done": True})
    report = phone.sync()
    assert not report["reached"]
    assert [m["id"] for m in phone.outbox()] == ids  # ULID order; the patch folded into n0's write
    assert phone.get("notes", "n0") == {"title": "offline 0", "done": True}

    # The app is killed and started again, still offline: nothing is lost.
    phone = reopen(phone, phone_path, exchange=net)
    assert len(phone.outbox()) == 3

    # Back online, an answer lost after the server applied it: the retry is not applied twice.
    net.online()
    net.lose_answers()
    assert phone.sync()["applied"] == 0
    net.online()
    report = phone.sync()
    assert report["reached"] and phone.outbox() == []
    stats = cloud.stats()
    assert stats["mutations_applied"] == 3 and stats["replays"] >= 3  # the retries were replayed

    # Another device sees each note once, as written.
    with Client.open(tmp_path / "tablet.db", exchange=net) as tablet:
        tablet.sync()
        rows = tablet.query("notes", order=[{"path": "title"}])
        assert [r["id"] for r in rows] == ["n0", "n1", "n2"]
        assert rows[0]["fields"] == {"title": "offline 0", "done": True}
        assert tablet.count("notes", where=[{"path": "done", "op": "==", "value": True}]) == 1
    phone.close()


def test_a_live_query_hears_another_devices_change_after_a_sync(cloud, tmp_path):
    with Client.open(tmp_path / "a.db", server=cloud) as a, Client.open(tmp_path / "b.db", server=cloud) as b:
        heard = []
        done = threading.Event()

        def on_result(result, change):
            heard.append([r["id"] for r in result])
            if len(heard) >= 2:
                done.set()

        watch = b.watch(on_result, "notes", where=[{"path": "course", "op": "==", "value": "math"}])
        a.put("notes", "m1", {"course": "math"})
        a.put("notes", "x1", {"course": "art"})
        a.sync()
        b.sync()
        assert done.wait(5)
        assert heard[0] == [] and heard[-1] == ["m1"]
        watch.remove()


def test_bad_input_is_an_error_that_names_it(cloud, tmp_path):
    with Client.open(tmp_path / "c.db", server=cloud) as c:
        with pytest.raises(OffsyncError) as e:
            c.put("notes", "", {"title": "no id"})
        assert e.value.code == INVALID_ARGUMENT
        with pytest.raises(OffsyncError) as e:
            c.query("notes", where=[{"path": "a..b", "op": "==", "value": 1}])
        assert "a..b" in e.value.message
        assert c.get("notes", "missing") is None

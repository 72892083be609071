"""BatchedSend coalesces small messages into few writes."""

from __future__ import annotations

import asyncio

import pytest

from pardata.comm import (
    Batch,
    BatchedSend,
    CommClosedError,
    CommError,
    Heartbeat,
    connect,
    listen,
    unbatch,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["tcp://127.0.0.1:0", "inproc://"], ids=["tcp", "inproc"])
def address(request):
    return request.param


class Recorder:
    """A handler that records every read, to count how many writes arrived."""

    def __init__(self) -> None:
        self.reads: list = []
        self.done = asyncio.Event()

    async def __call__(self, comm) -> None:
        try:
            while True:
                self.reads.append(await comm.read())
        except CommError:
            self.done.set()

    @property
    def messages(self) -> list:
        return [m for r in self.reads for m in unbatch(r)]


def test_small_messages_are_coalesced_in_order(arun, address):
    async def main():
        recorder = Recorder()
        listener = await listen(address, recorder)
        batched = BatchedSend(interval=0.01)
        batched.start(await connect(listener.address))
        for i in range(500):
            batched.send(Heartbeat(time=float(i)))
        await batched.flush()
        batched.send(Heartbeat(time=500.0), Heartbeat(time=501.0))
        await batched.close()
        await asyncio.wait_for(recorder.done.wait(), 5)
        await listener.stop()
        assert [m.time for m in recorder.messages] == [float(i) for i in range(502)]
        assert len(recorder.reads) <= 4  # typically 2: one batch per burst
        assert isinstance(recorder.reads[0], Batch)
        assert batched.messages_sent == 502 and batched.batches_sent == len(recorder.reads)

    arun(main())


def test_a_single_message_is_sent_unwrapped(arun, address):
    async def main():
        recorder = Recorder()
        listener = await listen(address, recorder)
        batched = BatchedSend()
        batched.start(await connect(listener.address))
        batched.send(Heartbeat(time=1.0))
        await batched.close()
        await asyncio.wait_for(recorder.done.wait(), 5)
        await listener.stop()
        assert recorder.reads == [Heartbeat(time=1.0)]

    arun(main())


def test_large_bursts_are_split(arun):
    async def main():
        recorder = Recorder()
        listener = await listen("inproc://", recorder)
        batched = BatchedSend(max_batch=100)
        batched.start(await connect(listener.address))
        batched.send(*(Heartbeat(time=float(i)) for i in range(1000)))
        await batched.close()
        await asyncio.wait_for(recorder.done.wait(), 5)
        await listener.stop()
        assert len(recorder.reads) == 10 and len(recorder.messages) == 1000

    arun(main())


def test_send_after_the_peer_is_gone_raises(arun, address):
    async def main():
        async def hang_up(comm):
            await comm.close()

        listener = await listen(address, hang_up)
        comm = await connect(listener.address)
        batched = BatchedSend(interval=0.001)
        batched.start(comm)
        with pytest.raises(CommClosedError):
            for _ in range(1000):  # the failure is noticed on a later write
                batched.send(Heartbeat(time=0.0))
                await asyncio.sleep(0.005)
        batched.abort()
        await listener.stop()

    arun(main())


def test_unbatch():
    h = Heartbeat(time=1.0)
    assert unbatch(h) == [h]
    assert unbatch(Batch(messages=[h, h])) == [h, h]

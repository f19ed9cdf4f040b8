#!/usr/bin/env python3
"""Calls that reach the meta-scheduler in more than one read, from Apache's Python client.

A small getJob call written in two parts at every byte boundary (one connection per split point, a
pause between the parts so the server reads them apart), then a submitJob of just over 1 MiB and a
next call on the same connection. Stubs from `thrift --gen py`, binary protocol, multiplexed names.

usage: transport_scenario.py STUBS_DIR HOST PORT buffered|framed
env:   TOKEN (valid for GATEWAY), GATEWAY, EXEC_BYTES, ARG_LENGTH (the service's job command limits)
"""
import json
import os
import sys

import time

from checks import check  # beside this script
import checks

sys.path.insert(0, sys.argv[1])

from thrift.protocol import TBinaryProtocol, TMultiplexedProtocol  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402
from airavata.metascheduler import JobService  # noqa: E402
from airavata.metascheduler.base.ttypes import ApplicationParallelismType, AuthzToken  # noqa: E402
from airavata.metascheduler.constants import METASCHEDULER_API_VERSION  # noqa: E402
from airavata.metascheduler.ttypes import JobSpec  # noqa: E402

HOST, PORT, TRANSPORT = sys.argv[2], int(sys.argv[3]), sys.argv[4]


class SplitSocket(TSocket.TSocket):
    """Sends the first `split` bytes of the next call at once and holds the rest for send_rest()."""

    def __init__(self, host, port, split=None):
        super().__init__(host, port)
        self.split = split
        self.pending = b''
        self.rest = b''

    def write(self, buff):
        self.pending += buff

    def flush(self):
        data, self.pending = self.pending, b''
        if self.split is None:
            self.handle.sendall(data)
            return
        self.handle.sendall(data[:self.split])
        self.rest, self.split = data[self.split:], None

    def send_rest(self):
        self.handle.sendall(self.rest)
        self.rest = b''


def connect(split=None):
    socket = SplitSocket(HOST, PORT, split)
    transport = TTransport.TFramedTransport(socket) if TRANSPORT == 'framed' else TTransport.TBufferedTransport(socket)
    transport.open()
    protocol = TBinaryProtocol.TBinaryProtocol(transport)
    return socket, transport, JobService.Client(TMultiplexedProtocol.TMultiplexedProtocol(protocol, 'JobService'))


def wire_length(send):
    """Bytes one call takes on the wire, framing included."""
    memory = TTransport.TMemoryBuffer()
    send(JobService.Client(TMultiplexedProtocol.TMultiplexedProtocol(TBinaryProtocol.TBinaryProtocol(memory), 'JobService')))
    return len(memory.getvalue()) + (4 if TRANSPORT == 'framed' else 0)


def longest_command():
    """As long a command as a job may have, in arguments as long as they may be."""
    command = ['/bin/echo']
    left = int(os.environ['EXEC_BYTES']) - len(command[0]) - 1
    while left > 0:
        length = min(int(os.environ['ARG_LENGTH']), left - 1)
        command.append(f'arg-{len(command)}-'.ljust(length, 'x'))
        left -= length + 1
    return command


token = AuthzToken(accessToken=os.environ['TOKEN'], claimsMap={'gatewayID': os.environ['GATEWAY'], 'userName': 'py'})
_, main_transport, jobs = connect()
job_id = jobs.submitJob(token, JobSpec(jobName='py-split', parallelism=ApplicationParallelismType.SERIAL,
                                       command=['/bin/echo', 'split'])).jobId

# A small call split at every byte boundary.
length = wire_length(lambda client: client.send_getJob(token, job_id))
split_connections = [connect(split) for split in range(1, length)]
for _, _, client in split_connections:
    client.send_getJob(token, job_id)
time.sleep(0.1)
for socket, _, _ in split_connections:
    socket.send_rest()
answers = [client.recv_getJob().jobId for _, _, client in split_connections]
check(answers == [job_id] * (length - 1), f'getJob split at each of {length - 1} byte boundaries is answered')
versions = {client.getAPIVersion() for _, _, client in split_connections}
check(versions == {METASCHEDULER_API_VERSION}, 'every split connection answers its next call')
for _, transport, _ in split_connections:
    transport.close()

# Just over 1 MiB in one call, then the next call on the same connection.
command = longest_command()
spec = JobSpec(jobName='py-large', parallelism=ApplicationParallelismType.SERIAL, command=command)
check(wire_length(lambda client: client.send_submitJob(token, spec)) > 1024 * 1024, 'the submitJob call is over 1 MiB')
large_id = jobs.submitJob(token, spec).jobId
description = jobs.getJob(token, large_id).jobDescription
check(description.endswith(json.dumps(command, separators=(',', ':'))), 'getJob returns the 1 MiB command whole')
check(jobs.getAPIVersion() == METASCHEDULER_API_VERSION, 'the connection answers the next call')
main_transport.close()

print(f'python transport ({TRANSPORT}): {checks.passed} checks passed')

// A client process of bench/rpc: forked by bench/rpc.ts, it opens its share of the run's
// connections (each its own socket, to the port the bench process gave it), makes calls back to
// back from the shared start time, times every call started inside the measured window, and
// reports counts and latencies back over IPC. Clients live apart from the servers, as an
// orchestrator's would, so neither side's event loop caps the other.
import { connectClients, type ServiceClients } from '../src/client/connect';
import { base, ms } from '../src/rpc/wire';
import { epochNow, type ClientReport, type FromClientProcess, type Go, type RunPlan, type ToClientProcess } from './support/clientProtocol';
import { LatencyRecorder } from './support/latency';

type Call = () => Promise<unknown>;

let aborted = false;
let plan: RunPlan | undefined;
let clients: ServiceClients[] = [];

function send(message: FromClientProcess): void {
  process.send?.(message);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : JSON.stringify(error);
}

/** The call one connection repeats; `connection` numbers the run's connections from 0. */
function makeCall(run: RunPlan, client: ServiceClients, connection: number): Call {
  const token = new base.AuthzToken({ accessToken: run.accessToken, claimsMap: new Map([['gatewayID', run.gatewayId]]) });
  switch (run.scenario) {
    case 'raw no-op':
    case 'getAPIVersion':
      return () => client.job.getAPIVersion();
    case 'submitJob': {
      let submitted = 0;
      // A distinct client token per call: every submit is a new durable job, never an idempotent replay.
      return () => client.job.submitJob(token, new ms.JobSpec({
        jobName: `bench-${connection}`,
        parallelism: base.ApplicationParallelismType.SERIAL,
        command: ['/bin/echo', 'bench'],
        clientToken: `bench-${run.runTag}-${connection}-${(submitted += 1)}`,
      }));
    }
    case 'getJob': {
      const ids = run.jobIds;
      if (ids.length === 0) throw new Error('getJob needs seeded job ids');
      let next = (connection * 97) % ids.length;
      return () => {
        next = (next + 1) % ids.length;
        return client.job.getJob(token, ids[next]);
      };
    }
  }
}

async function prepare(run: RunPlan): Promise<void> {
  plan = run;
  aborted = false;
  clients = await Promise.all(run.ports.map((port) => connectClients({ host: run.host, port, transport: run.transport, timeoutMs: 10_000 })));
}

async function go(window: Go): Promise<ClientReport> {
  const run = plan;
  if (!run) throw new Error('"go" before "prepare"');
  const recorder = new LatencyRecorder(run.sampleCapacity);
  let errors = 0;
  let firstError: string | undefined;
  let lastDone = 0;
  let running = clients.length;
  const wait = window.startAt - epochNow();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  let timer: NodeJS.Timeout | undefined;
  try {
    const loops = Promise.all(clients.map(async (client, i) => {
      const call = makeCall(run, client, run.firstConnection + i);
      let consecutiveErrors = 0;
      while (!aborted) {
        const t0 = epochNow();
        if (t0 >= window.measureEnd) break;
        try {
          await call();
        } catch (error) {
          if (t0 >= window.measureStart) errors += 1;
          firstError ??= describe(error);
          if (++consecutiveErrors >= 100) break; // a broken client: stop it, the errors column says so
          continue;
        }
        consecutiveErrors = 0;
        if (t0 >= window.measureStart) {
          const t1 = epochNow();
          recorder.record(t1 - t0);
          if (t1 > lastDone) lastDone = t1;
        }
      }
      running -= 1;
    }));
    // A call that never comes back must not hold the run: give up on it stallMs after the window.
    const stalled = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, window.measureEnd + run.stallMs - epochNow());
    });
    await Promise.race([loops, stalled]);
  } finally {
    clearTimeout(timer);
    for (const client of clients) client.close();
    clients = [];
  }
  return {
    calls: recorder.recorded + recorder.overflow,
    samples: recorder.sorted().slice(), // a copy: the view's whole buffer would cross the channel otherwise
    overflow: recorder.overflow,
    errors,
    stalled: running,
    firstError,
    lastDone,
  };
}

// Ctrl-C reaches the whole process group: the bench process decides, and says 'abort'.
process.on('SIGINT', () => undefined);
process.on('disconnect', () => process.exit(0));
process.on('message', (message: ToClientProcess) => {
  if (message.type === 'abort') {
    aborted = true;
    return;
  }
  const work = message.type === 'prepare'
    ? prepare(message.plan).then((): FromClientProcess => ({ type: 'prepared' }))
    : go(message).then((report): FromClientProcess => ({ type: 'result', report }));
  work.then(send, (error: unknown) => {
    for (const client of clients) client.close();
    clients = [];
    send({ type: 'failed', error: describe(error) });
  });
});
send({ type: 'ready' });

/*
 * The rollout observer's process (forked by rolloutObserver.ts): it lists and
 * then watches the ReplicaSets and pods of one namespace with the admin
 * kubeconfig, and tells its parent, for each expected rollout, the first
 * moment at which every pod of the new ReplicaSet is Ready and no pod of any
 * other ReplicaSet of the Deployment remains (terminating pods count until
 * they are gone). Times are wall-clock milliseconds with sub-millisecond
 * precision (performance.timeOrigin + performance.now()) taken when the watch
 * event's bytes arrive, so they compare with the parent's.
 *
 * Being its own process, its clock readings do not wait for the event loop of
 * the process under test (Kube Delivery's runner runs in the bench process).
 */
import { KubeConfig } from '@kubernetes/client-node';
import https from 'node:https';
import type {
  ObservedRollout,
  ObserverReply,
  ObserverRequest,
  RolloutTarget,
} from './rolloutObserver';

const [kubeconfigPath, namespace] = process.argv.slice(2);
const now = () => performance.timeOrigin + performance.now();

type Obj = {
  metadata: {
    uid: string;
    name: string;
    resourceVersion?: string;
    deletionTimestamp?: string;
    ownerReferences?: Array<{ kind: string; name: string; uid: string }>;
  };
  spec?: any;
  status?: any;
};

const KINDS = {
  replicasets: `/apis/apps/v1/namespaces/${namespace}/replicasets`,
  pods: `/api/v1/namespaces/${namespace}/pods`,
} as const;
type Kind = keyof typeof KINDS;

const store: Record<Kind, Map<string, Obj>> = {
  replicasets: new Map(),
  pods: new Map(),
};
let watchRestarts = 0;
let tls: https.RequestOptions = {};
let server = '';

function request(path: string): Promise<import('node:http').IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(path, server), {
      ...tls,
      agent: false,
      headers: { Accept: 'application/json' },
    });
    req.on('response', resolve);
    req.on('error', reject);
    req.end();
  });
}

async function list(kind: Kind): Promise<string> {
  const res = await request(KINDS[kind]);
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  if (res.statusCode !== 200) {
    throw new Error(`list ${kind}: HTTP ${res.statusCode} ${body?.message}`);
  }
  store[kind].clear();
  for (const item of body.items as Obj[])
    store[kind].set(item.metadata.uid, item);
  return body.metadata.resourceVersion;
}

/** Lists, then watches from the list's resourceVersion; after the watch ends or fails, lists again. Resolves once the first watch is open. */
function listAndWatch(kind: Kind): Promise<void> {
  return new Promise((resolveFirst, rejectFirst) => {
    let first = true;
    const loop = async () => {
      for (;;) {
        try {
          let resourceVersion = await list(kind);
          evaluate(now());
          const res = await request(
            `${KINDS[kind]}?watch=1&allowWatchBookmarks=true&timeoutSeconds=1800&resourceVersion=${resourceVersion}`,
          );
          if (res.statusCode !== 200) {
            throw new Error(`watch ${kind}: HTTP ${res.statusCode}`);
          }
          if (first) {
            first = false;
            resolveFirst();
          }
          let buffered = '';
          let gone = false;
          for await (const chunk of res) {
            const at = now();
            buffered += (chunk as Buffer).toString('utf8');
            let newline: number;
            while ((newline = buffered.indexOf('\n')) >= 0) {
              const line = buffered.slice(0, newline);
              buffered = buffered.slice(newline + 1);
              if (!line.trim()) continue;
              const event = JSON.parse(line) as { type: string; object: Obj };
              if (event.type === 'ERROR') {
                gone = true; // e.g. 410 Gone: list again
                break;
              }
              resourceVersion =
                event.object.metadata.resourceVersion ?? resourceVersion;
              if (event.type === 'BOOKMARK') continue;
              if (event.type === 'DELETED')
                store[kind].delete(event.object.metadata.uid);
              else store[kind].set(event.object.metadata.uid, event.object);
            }
            evaluate(at);
            if (gone) break;
          }
          res.destroy();
        } catch (error) {
          if (first) {
            rejectFirst(error);
            return;
          }
          process.stderr.write(
            `rollout observer: ${kind}: ${(error as Error).message}\n`,
          );
          await new Promise(r => setTimeout(r, 200));
        }
        watchRestarts++;
      }
    };
    void loop();
  });
}

// --- expectations --------------------------------------------------------------

interface Pending {
  id: number;
  targets: RolloutTarget[];
  results: Array<Partial<ObservedRollout>>;
  restartsAtStart: number;
}
const pending = new Map<number, Pending>();

const isReady = (pod: Obj) =>
  (pod.status?.conditions ?? []).some(
    (c: any) => c.type === 'Ready' && c.status === 'True',
  );
const controllerOf = (obj: Obj, kind: string) =>
  obj.metadata.ownerReferences?.find(o => o.kind === kind);

/** Where one Deployment's rollout to `images` stands in the observed state. */
function stateOf(target: RolloutTarget) {
  const replicaSets = [...store.replicasets.values()].filter(
    rs => controllerOf(rs, 'Deployment')?.name === target.deployment,
  );
  const images = (rs: Obj) =>
    (rs.spec?.template?.spec?.containers ?? []).map((c: any) => c.image);
  const newRs = replicaSets.find(
    rs => JSON.stringify(images(rs)) === JSON.stringify(target.images),
  );
  const otherUids = new Set(
    replicaSets.filter(rs => rs !== newRs).map(rs => rs.metadata.uid),
  );
  let newPods = 0;
  let newReady = 0;
  let oldPods = 0;
  for (const pod of store.pods.values()) {
    const owner = controllerOf(pod, 'ReplicaSet');
    if (!owner) continue;
    if (newRs && owner.uid === newRs.metadata.uid) {
      if (pod.metadata.deletionTimestamp) continue;
      newPods++;
      if (isReady(pod)) newReady++;
    } else if (otherUids.has(owner.uid)) {
      oldPods++;
    }
  }
  return {
    newRs: newRs?.metadata.name,
    newPods,
    newReady,
    oldPods,
    newAllReady:
      !!newRs && newPods === target.replicas && newReady === target.replicas,
  };
}

function evaluate(at: number) {
  for (const p of pending.values()) {
    p.targets.forEach((target, i) => {
      const result = p.results[i];
      if (result.doneAt !== undefined) return;
      const s = stateOf(target);
      if (s.newAllReady && result.newReadyAt === undefined)
        result.newReadyAt = at;
      if (s.newAllReady && s.oldPods === 0) {
        result.doneAt = at;
        result.newReplicaSet = s.newRs;
      }
    });
    if (p.results.every(r => r.doneAt !== undefined)) {
      pending.delete(p.id);
      reply({
        type: 'done',
        id: p.id,
        results: p.results.map((r, i) => ({
          deployment: p.targets[i].deployment,
          newReplicaSet: r.newReplicaSet!,
          newReadyAt: r.newReadyAt!,
          doneAt: r.doneAt!,
        })),
        watchRestarts: watchRestarts - p.restartsAtStart,
      });
    }
  }
}

function reply(message: ObserverReply) {
  process.send!(message);
}

process.on('message', (message: ObserverRequest) => {
  if (message.type === 'expect') {
    pending.set(message.id, {
      id: message.id,
      targets: message.targets,
      results: message.targets.map(() => ({})),
      restartsAtStart: watchRestarts,
    });
    // Registered before the parent starts its clock; evaluated at once so a
    // target that is (wrongly) already settled shows up as a 0 ms rollout.
    reply({ type: 'ack', id: message.id });
    evaluate(now());
  } else if (message.type === 'describe') {
    const p = pending.get(message.id);
    reply({
      type: 'description',
      id: message.id,
      text: p
        ? p.targets
            .map(t => `${t.deployment}: ${JSON.stringify(stateOf(t))}`)
            .join('; ')
        : 'settled',
    });
  }
});
process.on('disconnect', () => process.exit(0));

async function main() {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  server = kc.getCurrentCluster()!.server;
  await kc.applyToHTTPSOptions(tls);
  await Promise.all([listAndWatch('replicasets'), listAndWatch('pods')]);
  reply({ type: 'ready' });
}

main().catch(error => {
  reply({ type: 'failed', message: (error as Error).stack ?? String(error) });
  process.exit(1);
});

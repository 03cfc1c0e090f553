import * as fs from 'fs';
import * as path from 'path';
import { goModuleDir } from './build';
import { packageDir } from './paths';
import {
  EXIT_CODE_ANNOTATION,
  FAIL_AS_ANNOTATION,
  NEVER_READY_ANNOTATION,
  SERVE_ANNOTATION,
  VERSIONS,
} from './versions';

/**
 * kwok's own stages, read from the sigs.k8s.io/kwok module (kustomize/stage/...), so the
 * nodes get Ready with leases and pods become Running+Ready with IPs, are completed when
 * owned by Jobs, and actually go away when deleted.
 */
const UPSTREAM_STAGES = [
  'kustomize/stage/node/fast/node-initialize.yaml',
  'kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml',
  'kustomize/stage/pod/fast/pod-ready.yaml',
  'kustomize/stage/pod/fast/pod-complete.yaml',
  'kustomize/stage/pod/fast/pod-delete.yaml',
];

/** Our own stages (kwok/*.yaml), appended after the upstream ones. */
const OWN_STAGES = [
  'pod-never-ready.yaml',
  'pod-exit-code.yaml',
  'pod-serve.yaml',
  'pod-fail-as.yaml',
];

const notDeleted = `    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
`;
const deleted = `    - key: '.metadata.deletionTimestamp'
      operator: 'Exists'
`;
const notServed = `    - key: '.metadata.annotations["${SERVE_ANNOTATION}"]'
      operator: 'NotIn'
      values:
      - 'true'
`;

/**
 * Extra selector expressions for upstream stages, inserted after their deletionTimestamp
 * expression (the anchor), so that pods meant for our own stages are left alone.
 */
const UPSTREAM_EXTRA_SELECTORS: Record<
  string,
  { anchor: string; extra: string }
> = {
  // Pods annotated never-ready are left to our pod-never-ready stage, served pods to
  // pod-serve and the pod runner, failing ones to pod-fail-as.
  'pod-ready.yaml': {
    anchor: notDeleted,
    extra: `    - key: '.metadata.annotations["${NEVER_READY_ANNOTATION}"]'
      operator: 'NotIn'
      values:
      - 'true'
${notServed}    - key: '.metadata.annotations["${FAIL_AS_ANNOTATION}"]'
      operator: 'DoesNotExist'
`,
  },
  // Pods annotated with an exit code are left to our pod-exit-code stage.
  'pod-complete.yaml': {
    anchor: notDeleted,
    extra: `    - key: '.metadata.annotations["${EXIT_CODE_ANNOTATION}"]'
      operator: 'DoesNotExist'
`,
  },
  // Served pods are deleted by the pod runner once they stopped serving, as a kubelet does.
  'pod-delete.yaml': { anchor: deleted, extra: notServed },
};

/** Writes the kwok config (all Stage documents) and returns its path. */
export async function writeKwokConfig(file: string): Promise<string> {
  const dir = await goModuleDir('sigs.k8s.io/kwok', VERSIONS.kwok);
  const docs: string[] = [];
  for (const rel of UPSTREAM_STAGES) {
    let text = fs.readFileSync(path.join(dir, rel), 'utf8');
    const selector = UPSTREAM_EXTRA_SELECTORS[path.basename(rel)];
    if (selector) {
      if (!text.includes(selector.anchor)) {
        throw new Error(`unexpected layout of ${rel} in kwok ${VERSIONS.kwok}`);
      }
      text = text.replace(
        selector.anchor,
        `${selector.anchor}${selector.extra}`,
      );
    }
    docs.push(
      `# from sigs.k8s.io/kwok@${VERSIONS.kwok}/${rel}\n${text.trim()}\n`,
    );
  }
  for (const name of OWN_STAGES) {
    docs.push(
      `${fs
        .readFileSync(path.join(packageDir, 'kwok', name), 'utf8')
        .trim()}\n`,
    );
  }
  fs.writeFileSync(file, docs.join('---\n'));
  return file;
}

/**
 * kwok's kinds whose objects serve pod logs through its kubelet API
 * (`kubectl logs`, `pods/log`): a `ClusterLogs` names containers and the file
 * their log is read from.
 */
export const KWOK_LOG_KINDS = ['Logs', 'ClusterLogs'];

/** The CRD files of {@link KWOK_LOG_KINDS}, from the sigs.k8s.io/kwok module. */
export async function kwokLogCrdFiles(): Promise<string[]> {
  const dir = await goModuleDir('sigs.k8s.io/kwok', VERSIONS.kwok);
  return ['logs', 'clusterlogs'].map(name =>
    path.join(dir, 'kustomize', 'crd', 'bases', `kwok.x-k8s.io_${name}.yaml`),
  );
}

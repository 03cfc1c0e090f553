import * as fs from 'fs';
import * as path from 'path';
import { goModuleDir } from './build';
import { packageDir } from './paths';
import {
  EXIT_CODE_ANNOTATION,
  NEVER_READY_ANNOTATION,
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
const OWN_STAGES = ['pod-never-ready.yaml', 'pod-exit-code.yaml'];

const DELETION_TIMESTAMP_ANCHOR = `    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
`;

/**
 * Extra selector expressions for upstream stages, inserted after their deletionTimestamp
 * expression, so that pods meant for our own stages are left alone.
 */
const UPSTREAM_EXTRA_SELECTORS: Record<string, string> = {
  // Pods annotated never-ready are left to our pod-never-ready stage.
  'pod-ready.yaml': `    - key: '.metadata.annotations["${NEVER_READY_ANNOTATION}"]'
      operator: 'NotIn'
      values:
      - 'true'
`,
  // Pods annotated with an exit code are left to our pod-exit-code stage.
  'pod-complete.yaml': `    - key: '.metadata.annotations["${EXIT_CODE_ANNOTATION}"]'
      operator: 'DoesNotExist'
`,
};

/** Writes the kwok config (all Stage documents) and returns its path. */
export async function writeKwokConfig(file: string): Promise<string> {
  const dir = await goModuleDir('sigs.k8s.io/kwok', VERSIONS.kwok);
  const docs: string[] = [];
  for (const rel of UPSTREAM_STAGES) {
    let text = fs.readFileSync(path.join(dir, rel), 'utf8');
    const extra = UPSTREAM_EXTRA_SELECTORS[path.basename(rel)];
    if (extra) {
      if (!text.includes(DELETION_TIMESTAMP_ANCHOR)) {
        throw new Error(`unexpected layout of ${rel} in kwok ${VERSIONS.kwok}`);
      }
      text = text.replace(
        DELETION_TIMESTAMP_ANCHOR,
        `${DELETION_TIMESTAMP_ANCHOR}${extra}`,
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

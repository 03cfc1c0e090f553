import * as fs from 'fs';
import * as path from 'path';
import { goModuleDir } from './build';
import { packageDir } from './paths';
import { NEVER_READY_ANNOTATION, VERSIONS } from './versions';

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

const POD_READY_ANCHOR = `    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
`;

/** Writes the kwok config (all Stage documents) and returns its path. */
export async function writeKwokConfig(file: string): Promise<string> {
  const dir = await goModuleDir('sigs.k8s.io/kwok', VERSIONS.kwok);
  const docs: string[] = [];
  for (const rel of UPSTREAM_STAGES) {
    let text = fs.readFileSync(path.join(dir, rel), 'utf8');
    if (rel.endsWith('/pod-ready.yaml')) {
      // Pods annotated never-ready are left to our pod-never-ready stage.
      if (!text.includes(POD_READY_ANCHOR)) {
        throw new Error(`unexpected layout of ${rel} in kwok ${VERSIONS.kwok}`);
      }
      text = text.replace(
        POD_READY_ANCHOR,
        `${POD_READY_ANCHOR}    - key: '.metadata.annotations["${NEVER_READY_ANNOTATION}"]'
      operator: 'NotIn'
      values:
      - 'true'
`,
      );
    }
    docs.push(
      `# from sigs.k8s.io/kwok@${VERSIONS.kwok}/${rel}\n${text.trim()}\n`,
    );
  }
  docs.push(
    `${fs
      .readFileSync(
        path.join(packageDir, 'kwok', 'pod-never-ready.yaml'),
        'utf8',
      )
      .trim()}\n`,
  );
  fs.writeFileSync(file, docs.join('---\n'));
  return file;
}

import * as fs from 'fs';
import * as path from 'path';
import { exec, execOk } from './exec';
import { binaryPath, cacheDir, packageDir } from './paths';
import { VERSIONS } from './versions';

export interface Binaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubectl: string;
  kwok: string;
  traefik: string;
}

export function binaries(): Binaries {
  return {
    etcd: binaryPath('etcd', VERSIONS.etcd),
    kubeApiserver: binaryPath('kube-apiserver', VERSIONS.kubernetes),
    kubeControllerManager: binaryPath(
      'kube-controller-manager',
      VERSIONS.kubernetes,
    ),
    kubeScheduler: binaryPath('kube-scheduler', VERSIONS.kubernetes),
    kubectl: binaryPath('kubectl', VERSIONS.kubernetes),
    kwok: binaryPath('kwok', VERSIONS.kwok),
    traefik: binaryPath('traefik', VERSIONS.traefik),
  };
}

/** The environment Go commands run with: static, module mode, the installed toolchain. */
export function goEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CGO_ENABLED: '0',
    GOFLAGS: '-mod=mod',
    GOTOOLCHAIN: 'local',
  };
}

async function requireGo(): Promise<void> {
  const result = await exec('go', ['version']).catch(() => undefined);
  if (!result || result.code !== 0) {
    throw new Error(
      'devcluster needs Go (1.26 or newer) on PATH to build its binaries',
    );
  }
}

type Component = 'kubernetes' | 'etcd' | 'kwok' | 'traefik';

/**
 * Builds the binaries that are not cached yet (see scripts/build-binaries.sh).
 * `only` limits a kubernetes build to some of its binaries (e.g. just kubectl).
 */
export async function ensureBinaries(
  options: { only?: Component[]; kubernetesNames?: string[] } = {},
): Promise<Binaries> {
  const bins = binaries();
  const wanted: Array<[Component, string, string[]]> = [
    [
      'kubernetes',
      VERSIONS.kubernetes,
      options.kubernetesNames ?? [
        'kube-apiserver',
        'kube-controller-manager',
        'kube-scheduler',
        'kubectl',
      ],
    ],
    ['etcd', VERSIONS.etcd, ['etcd']],
    ['kwok', VERSIONS.kwok, ['kwok']],
    ['traefik', VERSIONS.traefik, ['traefik']],
  ];
  for (const [component, version, names] of wanted) {
    if (options.only && !options.only.includes(component)) continue;
    const missing = names.filter(n => !fs.existsSync(binaryPath(n, version)));
    if (missing.length === 0) continue;
    await requireGo();
    const started = Date.now();
    process.stderr.write(
      `devcluster: building ${missing.join(
        ', ',
      )} ${version} from Go modules (cached in ${path.dirname(
        binaryPath(missing[0], version),
      )})\n`,
    );
    await execOk(
      'bash',
      [
        path.join(packageDir, 'scripts', 'build-binaries.sh'),
        component,
        version,
        ...missing,
      ],
      { env: goEnv(), inheritStderr: true },
    );
    process.stderr.write(
      `devcluster: built ${component} ${version} in ${Math.round(
        (Date.now() - started) / 1000,
      )}s\n`,
    );
  }
  return bins;
}

/** Downloads a Go module with `go mod download -json` and returns its directory. */
export async function goModuleDir(
  module: string,
  version: string,
): Promise<string> {
  await requireGo();
  fs.mkdirSync(cacheDir(), { recursive: true });
  const result = await exec(
    'go',
    ['mod', 'download', '-json', `${module}@${version}`],
    { cwd: cacheDir(), env: goEnv() },
  );
  let info: { Dir?: string; Error?: string } = {};
  try {
    info = JSON.parse(result.stdout);
  } catch {
    // fall through to the error below
  }
  if (result.code !== 0 || !info.Dir) {
    throw new Error(
      `go mod download ${module}@${version} failed: ${
        info.Error ?? result.stderr.trim()
      }`,
    );
  }
  return info.Dir;
}

import { getDevCluster } from '@internal/devcluster';

/** Runs the devcluster's kubectl as its administrator; throws with stderr on failure. */
export async function kubectl(args: string[], input?: string): Promise<string> {
  const cluster = await getDevCluster();
  const result = await cluster.kubectl(args, { input });
  if (result.code !== 0) {
    throw new Error(
      `kubectl ${args.join(' ')}: ${result.stderr || result.stdout}`,
    );
  }
  return result.stdout;
}

/** An object as the cluster has it now, or undefined when there is none. */
export async function readObject(
  namespace: string,
  resource: string,
  name: string,
): Promise<any | undefined> {
  const out = await kubectl([
    '-n',
    namespace,
    'get',
    resource,
    name,
    '--ignore-not-found',
    '-o',
    'json',
  ]);
  return out.trim() ? JSON.parse(out) : undefined;
}

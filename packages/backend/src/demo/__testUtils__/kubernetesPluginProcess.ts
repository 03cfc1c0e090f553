/**
 * The Backstage Kubernetes plugin as the portal runs it, in a process of its
 * own: its code imports @kubernetes/client-node dynamically, which Jest's VM
 * cannot do. A plain backend (createBackend) with the catalog reading
 * examples/online-boutique and the kubernetes plugin configured by the
 * `kubernetes` section of `yarn devcluster app-config` (its `$file` token is
 * read by the real config loader).
 *
 *   node -r @backstage/cli/config/nodeTransform.cjs kubernetesPluginProcess.ts --config <file>
 *
 * No IPC channel (a backend with one talks to `backstage-cli package start`);
 * it exits when its parent process is gone, so it never outlives the test.
 * Plain Node: nothing here may import Jest or @backstage/backend-test-utils.
 */
import { createBackend } from '@backstage/backend-defaults';

const parent = process.ppid;
setInterval(() => {
  try {
    process.kill(parent, 0);
  } catch {
    process.exit(0);
  }
}, 1000).unref();

const backend = createBackend();
backend.add(import('@backstage/plugin-catalog-backend'));
backend.add(import('@backstage/plugin-kubernetes-backend'));
backend.start().catch(error => {
  console.error(error);
  process.exit(1);
});

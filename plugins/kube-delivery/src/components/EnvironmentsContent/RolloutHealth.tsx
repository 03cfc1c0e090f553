import Box from '@material-ui/core/Box';
import Chip from '@material-ui/core/Chip';
import LinearProgress from '@material-ui/core/LinearProgress';
import Typography from '@material-ui/core/Typography';
import Alert from '@material-ui/lab/Alert';
import { Link } from '@backstage/core-components';
import { useRouteRef } from '@backstage/core-plugin-api';
import { entityRouteRef, useEntity } from '@backstage/plugin-catalog-react';
import type { RolloutStatus } from '@internal/plugin-kube-delivery-common';

/** The annotations with which the Backstage Kubernetes plugin shows its tab. */
const KUBERNETES_TAB_ANNOTATIONS = [
  'backstage.io/kubernetes-id',
  'backstage.io/kubernetes-label-selector',
];

/** A link to the same entity's Kubernetes tab (pods, events, logs), where it has one. */
function KubernetesTabLink() {
  const { entity } = useEntity();
  const entityRoute = useRouteRef(entityRouteRef);
  const annotations = entity.metadata.annotations ?? {};
  if (!KUBERNETES_TAB_ANNOTATIONS.some(a => annotations[a])) return null;
  const url = `${entityRoute({
    kind: entity.kind.toLocaleLowerCase('en-US'),
    namespace: entity.metadata.namespace ?? 'default',
    name: entity.metadata.name,
  })}/kubernetes`;
  return (
    <Typography variant="body2">
      Pods, events and logs: <Link to={url}>Kubernetes tab</Link>
    </Typography>
  );
}

/** Ready/desired replicas as a bar, the nodes the pods landed on, and the rollout in words. */
export function RolloutHealth({
  environment,
  rollout,
}: {
  environment: string;
  rollout: RolloutStatus;
}) {
  if (!rollout.exists) {
    return (
      <Typography variant="body2" color="textSecondary">
        No Deployment in the cluster yet.
      </Typography>
    );
  }
  const percent =
    rollout.desired > 0
      ? Math.round((rollout.ready / rollout.desired) * 100)
      : 0;
  const nodes = new Map<string, { total: number; ready: number }>();
  for (const pod of rollout.pods) {
    const node = pod.node ?? 'unscheduled';
    const entry = nodes.get(node) ?? { total: 0, ready: 0 };
    entry.total += 1;
    if (pod.ready) entry.ready += 1;
    nodes.set(node, entry);
  }
  let severity: 'success' | 'info' | 'warning' | 'error' = 'success';
  if (rollout.deadlineExceeded) severity = 'error';
  else if (rollout.problems?.length) severity = 'warning';
  else if (!rollout.complete) severity = 'info';
  else if (rollout.ready < rollout.desired) severity = 'warning';

  return (
    <Box>
      <Box display="flex" alignItems="center">
        <Box flexGrow={1} mr={1}>
          <LinearProgress
            variant="determinate"
            value={percent}
            color={rollout.ready < rollout.desired ? 'secondary' : 'primary'}
            aria-label={`Ready replicas in ${environment}`}
          />
        </Box>
        <Typography variant="body2">
          {rollout.ready} of {rollout.desired} ready
        </Typography>
      </Box>
      {nodes.size > 0 && (
        <Box mt={1} aria-label={`Pods per node in ${environment}`} role="list">
          {[...nodes.entries()].map(([node, count]) => (
            <Chip
              key={node}
              role="listitem"
              size="small"
              variant="outlined"
              style={{ marginRight: 4, marginBottom: 4 }}
              label={`${node}: ${count.ready}/${count.total} pod${
                count.total === 1 ? '' : 's'
              } ready`}
            />
          ))}
        </Box>
      )}
      <Box mt={1}>
        <Alert severity={severity} variant="outlined">
          {rollout.deadlineExceeded
            ? `Rollout stuck: progress deadline exceeded. ${rollout.message}`
            : rollout.message}
          {rollout.progressReason && ` (${rollout.progressReason})`}
        </Alert>
        {(rollout.problems?.length || rollout.deadlineExceeded) && (
          <Box mt={1}>
            <KubernetesTabLink />
          </Box>
        )}
      </Box>
    </Box>
  );
}

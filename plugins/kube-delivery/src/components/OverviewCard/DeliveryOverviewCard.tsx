import { InfoCard, Link, Progress } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { useEntity } from '@backstage/plugin-catalog-react';
import type {
  Deployment,
  EnvironmentStatus,
} from '@internal/plugin-kube-delivery-common';
import Box from '@material-ui/core/Box';
import Chip from '@material-ui/core/Chip';
import LinearProgress from '@material-ui/core/LinearProgress';
import Table from '@material-ui/core/Table';
import TableBody from '@material-ui/core/TableBody';
import TableCell from '@material-ui/core/TableCell';
import TableRow from '@material-ui/core/TableRow';
import Typography from '@material-ui/core/Typography';
import Alert from '@material-ui/lab/Alert';
import { kubeDeliveryApiRef } from '../../api';
import { useDeliveryChanges } from '../../hooks/useDeliveryChanges';
import { usePolledAsync } from '../../hooks/usePolledAsync';
import { reasonOf, relativeTime } from '../common/format';

/** How often the card reads the status again. */
export const OVERVIEW_POLL_INTERVAL_MS = 5000;

/** In words, what an environment's live state is. */
function healthOf(status: EnvironmentStatus): {
  label: string;
  color: 'primary' | 'secondary' | 'default';
} {
  if (status.unreachable) {
    return { label: 'cluster unreachable', color: 'secondary' };
  }
  if (!status.current) return { label: 'not deployed', color: 'default' };
  const rollout = status.rollout;
  if (!rollout) return { label: 'state unknown', color: 'default' };
  if (rollout.complete && rollout.ready >= rollout.desired) {
    return {
      label: `healthy · ${rollout.ready}/${rollout.desired} ready`,
      color: 'primary',
    };
  }
  return {
    label: `degraded · ${rollout.ready}/${rollout.desired} ready`,
    color: 'secondary',
  };
}

/** "Rollout (3 of 5): 1 of 2 updated replicas are available". */
function progressOf(deployment: Deployment): {
  text: string;
  done: number;
  total: number;
} {
  const steps = deployment.steps ?? [];
  const running = steps.find(s => s.status === 'running');
  const done = steps.filter(s => s.status !== 'running').length;
  if (deployment.status === 'waiting-approval') {
    return { text: 'waiting for approval', done: 0, total: 1 };
  }
  if (!running) return { text: deployment.status, done, total: steps.length };
  return {
    text: `${running.name} (step ${done + 1} of ${steps.length})${
      running.message ? `: ${running.message}` : ''
    }`,
    done,
    total: Math.max(steps.length, 1),
  };
}

/**
 * The entity Overview's card: the version in each environment, its health,
 * a running deploy's progress, and links to the tabs.
 */
export const DeliveryOverviewCard = () => {
  const { entity } = useEntity();
  const entityRef = stringifyEntityRef(entity);
  const api = useApi(kubeDeliveryApiRef);
  const { value, loading, error } = usePolledAsync(
    () => api.getStatus(entityRef),
    OVERVIEW_POLL_INTERVAL_MS,
    [api, entityRef],
    useDeliveryChanges(entityRef),
  );
  const base = `/catalog/${encodeURIComponent(
    entity.metadata.namespace ?? 'default',
  )}/${encodeURIComponent(
    entity.kind.toLocaleLowerCase('en-US'),
  )}/${encodeURIComponent(entity.metadata.name)}/kube-delivery`;
  return (
    <InfoCard
      title="Deliveries"
      subheader="What runs in each environment"
      deepLink={{ title: 'Environments', link: `${base}/environments` }}
    >
      {loading && <Progress />}
      {!value && error && (
        <Alert severity="warning">
          Status could not be read: {reasonOf(error)}
        </Alert>
      )}
      {value && (
        <Table size="small" aria-label="Versions by environment">
          <TableBody>
            {value.map(status => {
              const health = healthOf(status);
              const running = status.active[0];
              const progress = running && progressOf(running);
              return (
                <TableRow key={status.environment}>
                  <TableCell
                    component="th"
                    scope="row"
                    style={{ whiteSpace: 'nowrap', paddingLeft: 8 }}
                  >
                    {status.environment}
                  </TableCell>
                  <TableCell>
                    <Typography variant="body2">
                      <b>{status.current?.version ?? '—'}</b>
                      {running && ` → ${running.version}`}
                    </Typography>
                    {status.current && (
                      <Typography variant="caption" color="textSecondary">
                        {status.current.createdBy},{' '}
                        {relativeTime(
                          status.current.finishedAt ?? status.current.createdAt,
                        )}
                      </Typography>
                    )}
                    {progress && (
                      <Box mt={0.5} aria-label={`Deploying ${running.version}`}>
                        <LinearProgress
                          variant="determinate"
                          value={(progress.done / progress.total) * 100}
                        />
                        <Typography variant="caption">
                          {progress.text}
                        </Typography>
                      </Box>
                    )}
                  </TableCell>
                  <TableCell style={{ paddingRight: 8 }}>
                    <Chip
                      size="small"
                      label={health.label}
                      color={health.color}
                    />
                  </TableCell>
                </TableRow>
              );
            })}
          </TableBody>
        </Table>
      )}
      <Box mt={1} display="flex" gridGap={16}>
        <Link to={`${base}/feature-branches`}>Feature branches</Link>
        <Link to={`${base}/release-history`}>Release history</Link>
      </Box>
    </InfoCard>
  );
};

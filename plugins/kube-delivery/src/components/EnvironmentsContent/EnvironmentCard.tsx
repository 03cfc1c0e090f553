import { useState } from 'react';
import { InfoCard } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Chip from '@material-ui/core/Chip';
import Typography from '@material-ui/core/Typography';
import Alert from '@material-ui/lab/Alert';
import type {
  Deployment,
  DeploymentKind,
  EnvironmentStatusView,
  EnvironmentSummary,
  ReleaseView,
} from '@internal/plugin-kube-delivery-common';
import { kubeDeliveryApiRef } from '../../api';
import { DeployDialog } from './DeployDialog';
import { DeploymentSteps } from './DeploymentSteps';
import { reasonOf, relativeTime } from './format';
import { RolloutHealth } from './RolloutHealth';

/** What a deployment did, as the card says it. */
const KIND_IN_WORDS: Record<DeploymentKind, string> = {
  deploy: 'Deployed',
  promote: 'Promoted',
  rollback: 'Rolled back',
  restart: 'Restarted',
};

type Outcome = { severity: 'success' | 'error'; message: string };

/** One environment of the lifecycle: what runs there, how healthy, and the actions. */
export function EnvironmentCard(props: {
  entityRef: string;
  environment: EnvironmentSummary;
  /** The environment before this one in the lifecycle, which Promote takes from. */
  previous?: EnvironmentSummary;
  status?: EnvironmentStatusView;
  canDeploy: boolean;
  onChanged: () => void;
}) {
  const { entityRef, environment, previous, status, canDeploy, onChanged } =
    props;
  const api = useApi(kubeDeliveryApiRef);
  const [dialogOpen, setDialogOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>();
  const name = environment.name;
  const current = status?.current;
  const active = status?.active ?? [];
  const deployed = Boolean(current || status?.rollout?.exists || active.length);

  const act = async (label: string, action: () => Promise<Deployment>) => {
    setBusy(true);
    setOutcome(undefined);
    try {
      const deployment = await action();
      setOutcome({
        severity: 'success',
        message: `${label} of ${deployment.version} to ${name} started.`,
      });
      onChanged();
    } catch (e) {
      setOutcome({ severity: 'error', message: reasonOf(e) });
    } finally {
      setBusy(false);
    }
  };

  const onDeploy = (release: ReleaseView) => {
    setDialogOpen(false);
    act('Deployment', () =>
      api.deploy(entityRef, { environment: name, releaseId: release.id }),
    );
  };

  return (
    <InfoCard
      title={name}
      subheader={`Namespace ${status?.namespace ?? environment.namespace}`}
      action={
        environment.protected ? (
          <Chip size="small" label="protected" style={{ marginTop: 16 }} />
        ) : undefined
      }
    >
      <section aria-label={`Environment ${name}`}>
        {deployed ? (
          <Box mb={2}>
            <Typography variant="h5" component="p">
              {current ? current.version : 'Unknown version'}
            </Typography>
            {current && (
              <Typography variant="body2" color="textSecondary">
                {KIND_IN_WORDS[current.kind]}{' '}
                by {current.createdBy}{' '}
                {relativeTime(current.finishedAt ?? current.createdAt)} ·{' '}
                {current.strategy}
              </Typography>
            )}
            {current?.message && (
              <Typography variant="body2">{current.message}</Typography>
            )}
          </Box>
        ) : (
          <Box mb={2}>
            <Typography variant="body1">
              Not deployed yet — create a release in CI, then Deploy.
            </Typography>
          </Box>
        )}

        {status?.rolloutError && (
          <Box mb={1}>
            <Alert severity="warning">
              Live state unavailable: {status.rolloutError}
            </Alert>
          </Box>
        )}
        {status?.rollout && (
          <RolloutHealth environment={name} rollout={status.rollout} />
        )}

        {active.map(deployment => (
          <DeploymentSteps key={deployment.id} deployment={deployment} />
        ))}

        {outcome && (
          <Box mt={1}>
            <Alert
              severity={outcome.severity}
              onClose={() => setOutcome(undefined)}
            >
              {outcome.message}
            </Alert>
          </Box>
        )}

        {canDeploy && (
          <Box mt={2} display="flex" style={{ gap: 8 }}>
            <Button
              variant="contained"
              color="primary"
              disabled={busy}
              onClick={() => setDialogOpen(true)}
              aria-label={`Deploy to ${name}`}
            >
              Deploy
            </Button>
            {previous && (
              <Button
                variant="outlined"
                disabled={busy}
                onClick={() =>
                  act('Promotion', () =>
                    api.promote(entityRef, { environment: name }),
                  )
                }
                aria-label={`Promote from ${previous.name} to ${name}`}
              >
                Promote from {previous.name}
              </Button>
            )}
            {deployed && (
              <Button
                variant="outlined"
                disabled={busy}
                onClick={() =>
                  act('Restart', () =>
                    api.restart(entityRef, { environment: name }),
                  )
                }
                aria-label={`Restart in ${name}`}
              >
                Restart
              </Button>
            )}
          </Box>
        )}
      </section>
      {canDeploy && (
        <DeployDialog
          open={dialogOpen}
          entityRef={entityRef}
          environment={name}
          onClose={() => setDialogOpen(false)}
          onDeploy={onDeploy}
        />
      )}
    </InfoCard>
  );
}

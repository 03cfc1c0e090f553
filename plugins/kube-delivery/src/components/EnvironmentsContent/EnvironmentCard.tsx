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
  EnvironmentStatus,
  Environment,
  Release,
} from '@internal/plugin-kube-delivery-common';
import { kubeDeliveryApiRef } from '../../api';
import { EnvironmentHealth } from './EnvironmentHealth';
import { GatewayHttps } from './GatewayHttps';
import { ReleaseDialog, type ReleaseAction } from '../common/ReleaseDialog';
import { DeploymentSteps } from '../common/DeploymentSteps';
import { ApprovalActions, isWaitingForApproval } from '../ApprovalActions';
import { OutcomeAlert } from '../common/OutcomeAlert';
import { useActions } from '../common/useActions';
import { relativeTime } from '../common/format';
import { RolloutHealth } from './RolloutHealth';

/** What a deployment did, as the card says it. */
const KIND_IN_WORDS: Record<DeploymentKind, string> = {
  deploy: 'Deployed',
  promote: 'Promoted',
  rollback: 'Rolled back',
  restart: 'Restarted',
};

const KIND_IN_PROGRESS: Record<DeploymentKind, string> = {
  deploy: 'Deploying',
  promote: 'Promoting',
  rollback: 'Rolling back to',
  restart: 'Restarting',
};

/** One environment of the lifecycle: what runs there, how healthy, and the actions. */
export function EnvironmentCard(props: {
  entityRef: string;
  environment: Environment;
  /** The environment before this one in the lifecycle, which Promote takes from. */
  previous?: Environment;
  status?: EnvironmentStatus;
  canDeploy: boolean;
  canRollback: boolean;
  canUploadCertificate: boolean;
  onChanged: () => void;
}) {
  const {
    entityRef,
    environment,
    previous,
    status,
    canDeploy,
    canRollback,
    canUploadCertificate,
    onChanged,
  } = props;
  const api = useApi(kubeDeliveryApiRef);
  const [dialog, setDialog] = useState<ReleaseAction>();
  const { busy, outcome, setOutcome, act } = useActions(onChanged);
  const name = environment.name;
  const current = status?.current;
  const active = status?.active ?? [];
  // On a first deploy nothing has succeeded yet: what is being deployed.
  const underway = active.find(d => !isWaitingForApproval(d));
  // One waiting for approval has not changed anything yet.
  const deployed = Boolean(
    current ||
      status?.rollout?.exists ||
      active.some(d => !isWaitingForApproval(d)),
  );

  const start = (label: string, action: () => Promise<Deployment>) =>
    act(action, deployment =>
      isWaitingForApproval(deployment)
        ? `${label} of ${deployment.version} to ${name} requested: it waits for approval by another user.`
        : `${label} of ${deployment.version} to ${name} started.`,
    );

  const onRelease = (release: Release) => {
    const action = dialog;
    setDialog(undefined);
    const request = { environment: name, releaseId: release.id };
    if (action === 'Roll back') {
      start('Rollback', () => api.rollback(entityRef, request));
    } else {
      start('Deployment', () => api.deploy(entityRef, request));
    }
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
              {current?.version ??
                (underway
                  ? `${KIND_IN_PROGRESS[underway.kind]} ${underway.version}`
                  : 'Unknown version')}
            </Typography>
            {!current && underway && (
              <Typography variant="body2" color="textSecondary">
                First deployment to {name}, started by {underway.createdBy}{' '}
                {relativeTime(underway.startedAt ?? underway.createdAt)}
              </Typography>
            )}
            {current && (
              <Typography variant="body2" color="textSecondary">
                {KIND_IN_WORDS[current.kind]} by {current.createdBy}{' '}
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

        {status?.unreachable && (
          <Box mb={1}>
            <Alert severity="error" data-testid="cluster-unreachable">
              The cluster of {name} is unreachable since{' '}
              {new Date(status.unreachable.since).toLocaleString()} (
              {relativeTime(status.unreachable.since)}):{' '}
              {status.unreachable.message}
            </Alert>
          </Box>
        )}
        {status?.rolloutError && !status.unreachable && (
          <Box mb={1}>
            <Alert severity="warning">
              Live state unavailable: {status.rolloutError}
            </Alert>
          </Box>
        )}
        {status?.rollout && (
          <RolloutHealth environment={name} rollout={status.rollout} />
        )}

        {active.map(deployment =>
          isWaitingForApproval(deployment) ? (
            <ApprovalActions
              key={deployment.id}
              entityRef={entityRef}
              deployment={deployment}
              onDecided={message => {
                setOutcome({ severity: 'success', message });
                onChanged();
              }}
            />
          ) : (
            <DeploymentSteps key={deployment.id} deployment={deployment} />
          ),
        )}

        <Box mt={2}>
          <EnvironmentHealth environment={name} />
        </Box>
        {environment.gateway && (
          <GatewayHttps
            environment={name}
            gateway={environment.gateway}
            canUpload={canUploadCertificate}
          />
        )}

        <OutcomeAlert
          outcome={outcome}
          onClose={() => setOutcome(undefined)}
          spacing={{ mt: 1 }}
        />

        {(canDeploy || (canRollback && deployed)) && (
          <Box mt={2} display="flex" flexWrap="wrap" style={{ gap: 8 }}>
            {canDeploy && (
              <Button
                variant="contained"
                color="primary"
                disabled={busy}
                onClick={() => setDialog('Deploy')}
                aria-label={`Deploy to ${name}`}
              >
                Deploy
              </Button>
            )}
            {canDeploy && previous && (
              <Button
                variant="outlined"
                disabled={busy}
                onClick={() =>
                  start('Promotion', () =>
                    api.promote(entityRef, { environment: name }),
                  )
                }
                aria-label={`Promote from ${previous.name} to ${name}`}
              >
                Promote from {previous.name}
              </Button>
            )}
            {canRollback && deployed && (
              <Button
                variant="outlined"
                disabled={busy}
                onClick={() => setDialog('Roll back')}
                aria-label={`Roll back ${name}`}
              >
                Roll back
              </Button>
            )}
            {canDeploy && deployed && (
              <Button
                variant="outlined"
                disabled={busy}
                onClick={() =>
                  start('Restart', () =>
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
      <ReleaseDialog
        open={dialog !== undefined}
        action={dialog ?? 'Deploy'}
        entityRef={entityRef}
        environment={name}
        currentReleaseId={current?.releaseId}
        onClose={() => setDialog(undefined)}
        onConfirm={onRelease}
      />
    </InfoCard>
  );
}

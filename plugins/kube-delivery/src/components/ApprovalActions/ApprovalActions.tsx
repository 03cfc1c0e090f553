import { useEffect, useState } from 'react';
import { identityApiRef, useApi } from '@backstage/core-plugin-api';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Dialog from '@material-ui/core/Dialog';
import DialogActions from '@material-ui/core/DialogActions';
import DialogContent from '@material-ui/core/DialogContent';
import DialogTitle from '@material-ui/core/DialogTitle';
import TextField from '@material-ui/core/TextField';
import Typography from '@material-ui/core/Typography';
import Alert from '@material-ui/lab/Alert';
import AlertTitle from '@material-ui/lab/AlertTitle';
import { usePermission } from '@backstage/plugin-permission-react';
import {
  kubeDeliveryApprovePermission,
  stringifyTargetRef,
  type Deployment,
  type DeploymentKind,
} from '@internal/plugin-kube-delivery-common';
import { kubeDeliveryApiRef } from '../../api';
import { OutcomeAlert, type Outcome } from '../common/OutcomeAlert';
import { reasonOf, relativeTime } from '../common/format';

/** The longest reason the backend takes. */
const MAX_REASON = 256;

const NOUN: Record<DeploymentKind, string> = {
  deploy: 'Deployment',
  promote: 'Promotion',
  rollback: 'Rollback',
  restart: 'Restart',
};

/** Whether a deployment waits for someone's approval. */
export function isWaitingForApproval(deployment: Deployment): boolean {
  return deployment.status === 'waiting-approval';
}

/** The signed-in user's entity ref, once known. */
function useUserEntityRef(): string | undefined {
  const identityApi = useApi(identityApiRef);
  const [user, setUser] = useState<string>();
  useEffect(() => {
    let cancelled = false;
    identityApi.getBackstageIdentity().then(
      identity => {
        if (!cancelled) setUser(identity.userEntityRef);
      },
      () => {},
    );
    return () => {
      cancelled = true;
    };
  }, [identityApi]);
  return user;
}

/**
 * A deployment waiting for approval in a protected environment: who asked
 * for it and until when it waits, with Approve and Reject for users holding
 * the approve permission there. The requester's own Approve is disabled
 * (another approver must); the backend refuses it too.
 */
export function ApprovalActions(props: {
  entityRef: string;
  deployment: Deployment;
  /**
   * Called after an approval or rejection with what happened, in words: the
   * caller shows it (this component is gone once the deployment no longer
   * waits) and reads the state again.
   */
  onDecided: (message: string) => void;
}) {
  const { entityRef, deployment: d, onDecided } = props;
  const api = useApi(kubeDeliveryApiRef);
  const user = useUserEntityRef();
  const { allowed: canApprove, loading: deciding } = usePermission({
    permission: kubeDeliveryApprovePermission,
    resourceRef: stringifyTargetRef({ environment: d.environment, entityRef }),
  });
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>();
  const [rejecting, setRejecting] = useState(false);
  const [reason, setReason] = useState('');

  const what = `${NOUN[d.kind]} of ${d.version} to ${d.environment}`;
  const own = user !== undefined && user === d.createdBy;
  const expiresAt = d.approval?.expiresAt;

  const decide = async (label: string, action: () => Promise<Deployment>) => {
    setBusy(true);
    setOutcome(undefined);
    try {
      await action();
    } catch (e) {
      setOutcome({ severity: 'error', message: reasonOf(e) });
      setBusy(false);
      return;
    }
    onDecided(`${what} ${label}.`);
  };

  const confirmReject = () => {
    const text = reason.trim();
    setRejecting(false);
    setReason('');
    decide('rejected', () => api.rejectDeployment(entityRef, d.id, text));
  };

  return (
    <Box mt={1} role="group" aria-label={`Approval of the ${what}`}>
      <Alert severity="warning">
        <AlertTitle>Waiting for approval</AlertTitle>
        <Typography variant="body2">
          {what}, requested by {d.createdBy} {relativeTime(d.createdAt)}.
          {expiresAt &&
            ` It expires ${relativeTime(expiresAt)} (${new Date(
              expiresAt,
            ).toLocaleString()}) unless approved.`}
        </Typography>
        {canApprove && own && (
          <Typography variant="body2">
            You requested it: another approver must approve it. You may reject
            it.
          </Typography>
        )}
        {!canApprove && !deciding && (
          <Typography variant="body2">
            An approver of {d.environment} must approve it.
          </Typography>
        )}
      </Alert>
      {canApprove && (
        <Box mt={1} display="flex" style={{ gap: 8 }}>
          <Button
            variant="contained"
            color="primary"
            size="small"
            disabled={busy || user === undefined || own}
            onClick={() =>
              decide('approved: it runs now', () =>
                api.approveDeployment(entityRef, d.id),
              )
            }
            aria-label={`Approve the ${what}`}
          >
            Approve
          </Button>
          <Button
            variant="outlined"
            size="small"
            disabled={busy}
            onClick={() => setRejecting(true)}
            aria-label={`Reject the ${what}`}
          >
            Reject
          </Button>
        </Box>
      )}
      <OutcomeAlert
        outcome={outcome}
        onClose={() => setOutcome(undefined)}
        spacing={{ mt: 1 }}
      />
      <Dialog
        open={rejecting}
        onClose={() => setRejecting(false)}
        aria-labelledby={`kd-reject-${d.id}`}
      >
        <DialogTitle id={`kd-reject-${d.id}`}>Reject the {what}</DialogTitle>
        <DialogContent>
          <Typography variant="body2" gutterBottom>
            It finishes without running; the reason is shown in the Release
            history.
          </Typography>
          <TextField
            id={`kd-reject-reason-${d.id}`}
            fullWidth
            required
            label="Reason"
            value={reason}
            onChange={e => setReason(e.target.value.slice(0, MAX_REASON))}
            helperText={`${reason.length}/${MAX_REASON}`}
          />
        </DialogContent>
        <DialogActions>
          <Button onClick={() => setRejecting(false)}>Cancel</Button>
          <Button
            color="secondary"
            variant="contained"
            disabled={reason.trim() === ''}
            onClick={confirmReject}
          >
            Reject
          </Button>
        </DialogActions>
      </Dialog>
    </Box>
  );
}

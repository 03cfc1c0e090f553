import { useEffect, useState } from 'react';
import { Progress, ResponseErrorPanel } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Dialog from '@material-ui/core/Dialog';
import DialogActions from '@material-ui/core/DialogActions';
import DialogContent from '@material-ui/core/DialogContent';
import DialogTitle from '@material-ui/core/DialogTitle';
import FormControl from '@material-ui/core/FormControl';
import InputLabel from '@material-ui/core/InputLabel';
import MenuItem from '@material-ui/core/MenuItem';
import Select from '@material-ui/core/Select';
import Typography from '@material-ui/core/Typography';
import type { Release } from '@internal/plugin-kube-delivery-common';
import { kubeDeliveryApiRef } from '../../api';
import { relativeTime } from './format';
import { ReleaseComparison } from './ReleaseComparison';

/** What the dialog does with the chosen release. */
export type ReleaseAction = 'Deploy' | 'Roll back';

/**
 * Picks a release of the entity to deploy to one environment, or to roll
 * back to. Rolling back offers every release but the one running, and shows
 * the manifest diff from the running release before it can be confirmed.
 */
export function ReleaseDialog(props: {
  open: boolean;
  action: ReleaseAction;
  entityRef: string;
  environment: string;
  /** The release the environment runs now. */
  currentReleaseId?: string;
  /** The release to select first, e.g. the one a history entry deployed. */
  preselectedReleaseId?: string;
  onClose: () => void;
  onConfirm: (release: Release) => void;
}) {
  const {
    open,
    action,
    entityRef,
    environment,
    currentReleaseId,
    preselectedReleaseId,
    onClose,
    onConfirm,
  } = props;
  const api = useApi(kubeDeliveryApiRef);
  const [releases, setReleases] = useState<Release[]>();
  const [error, setError] = useState<Error>();
  const [selected, setSelected] = useState('');
  const rollback = action === 'Roll back';

  useEffect(() => {
    if (!open) return undefined;
    let cancelled = false;
    setReleases(undefined);
    setError(undefined);
    setSelected('');
    api.listReleases(entityRef).then(
      items => {
        if (cancelled) return;
        const current = items.find(r => r.id === currentReleaseId);
        const offered = rollback ? items.filter(r => r !== current) : items;
        setReleases(offered);
        // Rolling back: the newest release older than the running one.
        const preferred =
          offered.find(r => r.id === preselectedReleaseId) ||
          (rollback &&
            current &&
            offered.find(r => r.createdAt < current.createdAt)) ||
          offered[0];
        if (preferred) setSelected(preferred.id);
      },
      e => {
        if (!cancelled) setError(e);
      },
    );
    return () => {
      cancelled = true;
    };
  }, [api, entityRef, open, rollback, currentReleaseId, preselectedReleaseId]);

  const release = releases?.find(r => r.id === selected);
  const idBase = `kube-delivery-${
    rollback ? 'rollback' : 'deploy'
  }-${environment}`;
  const verb = rollback ? 'Roll back' : 'Deploy';
  let confirmLabel = rollback
    ? `Roll back ${environment}`
    : `Deploy to ${environment}`;
  if (release) {
    confirmLabel = rollback
      ? `Roll back ${environment} to ${release.version}`
      : `Deploy ${release.version} to ${environment}`;
  }

  return (
    <Dialog
      open={open}
      onClose={onClose}
      aria-labelledby={`${idBase}-title`}
      maxWidth={rollback ? 'md' : 'sm'}
      fullWidth
    >
      <DialogTitle id={`${idBase}-title`}>
        {rollback ? `Roll back ${environment}` : `Deploy to ${environment}`}
      </DialogTitle>
      <DialogContent>
        {error && <ResponseErrorPanel error={error} />}
        {!error && !releases && <Progress />}
        {releases && releases.length === 0 && (
          <Typography>
            {rollback
              ? 'No earlier release to roll back to — only the running release exists.'
              : 'No releases yet — create one in CI (or from the image feed) first.'}
          </Typography>
        )}
        {releases && releases.length > 0 && (
          <FormControl fullWidth>
            <InputLabel id={`${idBase}-label`}>Release</InputLabel>
            <Select
              labelId={`${idBase}-label`}
              value={selected}
              onChange={e => setSelected(e.target.value as string)}
              inputProps={{
                'aria-label': rollback
                  ? 'Release to roll back to'
                  : 'Release to deploy',
              }}
            >
              {releases.map(r => (
                <MenuItem key={r.id} value={r.id}>
                  {r.version} · {r.channel} · {relativeTime(r.createdAt)} by{' '}
                  {r.createdBy}
                </MenuItem>
              ))}
            </Select>
          </FormControl>
        )}
        {rollback && release && (
          <Box mt={2}>
            {currentReleaseId ? (
              <ReleaseComparison
                entityRef={entityRef}
                fromId={currentReleaseId}
                toId={release.id}
              />
            ) : (
              <Typography variant="body2">
                Nothing has succeeded in {environment} yet, so there is no
                running release to compare with.
              </Typography>
            )}
          </Box>
        )}
      </DialogContent>
      <DialogActions>
        <Button onClick={onClose}>Cancel</Button>
        <Button
          color={rollback ? 'secondary' : 'primary'}
          variant="contained"
          disabled={!release}
          onClick={() => release && onConfirm(release)}
          aria-label={confirmLabel}
        >
          {verb}
        </Button>
      </DialogActions>
    </Dialog>
  );
}

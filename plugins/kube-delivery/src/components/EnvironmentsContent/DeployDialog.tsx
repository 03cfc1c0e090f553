import { useEffect, useState } from 'react';
import { Progress, ResponseErrorPanel } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
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
import type { ReleaseView } from '@internal/plugin-kube-delivery-common';
import { kubeDeliveryApiRef } from '../../api';
import { relativeTime } from './format';

/** Picks a release of the entity to deploy to one environment. */
export function DeployDialog(props: {
  open: boolean;
  entityRef: string;
  environment: string;
  onClose: () => void;
  onDeploy: (release: ReleaseView) => void;
}) {
  const { open, entityRef, environment, onClose, onDeploy } = props;
  const api = useApi(kubeDeliveryApiRef);
  const [releases, setReleases] = useState<ReleaseView[]>();
  const [error, setError] = useState<Error>();
  const [selected, setSelected] = useState('');

  useEffect(() => {
    if (!open) return undefined;
    let cancelled = false;
    setReleases(undefined);
    setError(undefined);
    setSelected('');
    api.listReleases(entityRef).then(
      items => {
        if (!cancelled) {
          setReleases(items);
          if (items.length > 0) setSelected(items[0].id);
        }
      },
      e => {
        if (!cancelled) setError(e);
      },
    );
    return () => {
      cancelled = true;
    };
  }, [api, entityRef, open]);

  const release = releases?.find(r => r.id === selected);
  const labelId = `kube-delivery-release-${environment}`;

  return (
    <Dialog open={open} onClose={onClose} aria-labelledby={`${labelId}-title`}>
      <DialogTitle id={`${labelId}-title`}>Deploy to {environment}</DialogTitle>
      <DialogContent>
        {error && <ResponseErrorPanel error={error} />}
        {!error && !releases && <Progress />}
        {releases && releases.length === 0 && (
          <Typography>
            No releases yet — create one in CI (or from the image feed) first.
          </Typography>
        )}
        {releases && releases.length > 0 && (
          <FormControl fullWidth>
            <InputLabel id={labelId}>Release</InputLabel>
            <Select
              labelId={labelId}
              value={selected}
              onChange={e => setSelected(e.target.value as string)}
              inputProps={{ 'aria-label': 'Release to deploy' }}
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
      </DialogContent>
      <DialogActions>
        <Button onClick={onClose}>Cancel</Button>
        <Button
          color="primary"
          variant="contained"
          disabled={!release}
          onClick={() => release && onDeploy(release)}
          aria-label={
            release
              ? `Deploy ${release.version} to ${environment}`
              : `Deploy to ${environment}`
          }
        >
          Deploy
        </Button>
      </DialogActions>
    </Dialog>
  );
}

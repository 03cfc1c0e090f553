import { useEffect, useState } from 'react';
import {
  InfoCard,
  Progress,
  ResponseErrorPanel,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import Box from '@material-ui/core/Box';
import FormControl from '@material-ui/core/FormControl';
import InputLabel from '@material-ui/core/InputLabel';
import MenuItem from '@material-ui/core/MenuItem';
import Select from '@material-ui/core/Select';
import Typography from '@material-ui/core/Typography';
import type { ReleaseView } from '@internal/plugin-kube-delivery-common';
import { kubeDeliveryApiRef } from '../../api';
import { useLoad } from '../../hooks/usePolledAsync';
import { ReleaseComparison } from '../common/ReleaseComparison';

function ReleaseSelect(props: {
  id: string;
  label: string;
  releases: ReleaseView[];
  value: string;
  onChange: (id: string) => void;
}) {
  return (
    <FormControl fullWidth margin="dense">
      <InputLabel id={`${props.id}-label`}>{props.label}</InputLabel>
      <Select
        labelId={`${props.id}-label`}
        value={props.value}
        onChange={e => props.onChange(e.target.value as string)}
        inputProps={{ 'aria-label': props.label }}
      >
        {props.releases.map(r => (
          <MenuItem key={r.id} value={r.id}>
            {r.version}
          </MenuItem>
        ))}
      </Select>
    </FormControl>
  );
}

/** Two releases of the service side by side: what changed in settings and manifest. */
export function CompareReleases({ entityRef }: { entityRef: string }) {
  const api = useApi(kubeDeliveryApiRef);
  const {
    value: releases,
    error,
    loading,
  } = useLoad(() => api.listReleases(entityRef), [api, entityRef]);
  const [fromId, setFromId] = useState('');
  const [toId, setToId] = useState('');

  // Start with the newest release against the one before it.
  useEffect(() => {
    if (releases && releases.length >= 2) {
      setToId(releases[0].id);
      setFromId(releases[1].id);
    }
  }, [releases]);

  let body: JSX.Element;
  if (loading) body = <Progress />;
  else if (error || !releases) {
    body = <ResponseErrorPanel error={error ?? new Error('No answer')} />;
  } else if (releases.length < 2) {
    body = (
      <Typography variant="body2">
        Two releases are needed to compare; create another release in CI.
      </Typography>
    );
  } else {
    body = (
      <>
        <ReleaseSelect
          id="kd-compare-from"
          label="From release"
          releases={releases}
          value={fromId}
          onChange={setFromId}
        />
        <ReleaseSelect
          id="kd-compare-to"
          label="To release"
          releases={releases}
          value={toId}
          onChange={setToId}
        />
        <Box mt={2}>
          {fromId && toId && fromId !== toId ? (
            <ReleaseComparison
              entityRef={entityRef}
              fromId={fromId}
              toId={toId}
            />
          ) : (
            <Typography variant="body2">
              Choose two different releases.
            </Typography>
          )}
        </Box>
      </>
    );
  }
  return <InfoCard title="Compare releases">{body}</InfoCard>;
}

import { useEffect, useState } from 'react';
import {
  InfoCard,
  Progress,
  ResponseErrorPanel,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import Box from '@material-ui/core/Box';
import Typography from '@material-ui/core/Typography';
import { kubeDeliveryApiRef } from '../../api';
import { useLoad } from '../../hooks/usePolledAsync';
import { LabelledSelect } from '../common/LabelledSelect';
import { ReleaseComparison } from '../common/ReleaseComparison';

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
    const options = releases.map(r => ({ value: r.id, label: r.version }));
    body = (
      <>
        <LabelledSelect
          id="kd-compare-from"
          label="From release"
          options={options}
          value={fromId}
          onChange={setFromId}
        />
        <LabelledSelect
          id="kd-compare-to"
          label="To release"
          options={options}
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

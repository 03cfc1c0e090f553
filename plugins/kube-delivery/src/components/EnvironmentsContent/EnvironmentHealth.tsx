import { useState } from 'react';
import { useApi } from '@backstage/core-plugin-api';
import type { EnvironmentHealth as HealthCheck } from '@internal/plugin-kube-delivery-common';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Typography from '@material-ui/core/Typography';
import Alert from '@material-ui/lab/Alert';
import { kubeDeliveryApiRef } from '../../api';
import { usePolledAsync } from '../../hooks/usePolledAsync';
import { reasonOf, relativeTime } from '../common/format';

/** Health is checked on the backend's schedule; reading it more often adds nothing. */
export const HEALTH_POLL_INTERVAL_MS = 30_000;

/** The environment's latest health check: what is wrong, and what to do about it. */
export function EnvironmentHealth({ environment }: { environment: string }) {
  const api = useApi(kubeDeliveryApiRef);
  const polled = usePolledAsync(
    () => api.getEnvironmentHealth(environment),
    HEALTH_POLL_INTERVAL_MS,
    [api, environment],
  );
  const [checked, setChecked] = useState<HealthCheck>();
  const [checking, setChecking] = useState(false);
  const [checkError, setCheckError] = useState<string>();
  const { error, loading } = polled;
  // A check made here is newer than the polled answer until the next poll.
  const value =
    checked && (!polled.value || checked.checkedAt >= polled.value.checkedAt)
      ? checked
      : polled.value;

  const checkNow = async () => {
    setChecking(true);
    setCheckError(undefined);
    try {
      setChecked(await api.checkEnvironmentHealth(environment));
    } catch (e) {
      setCheckError(reasonOf(e));
    } finally {
      setChecking(false);
    }
  };
  if (loading) {
    return (
      <Typography variant="body2" color="textSecondary">
        Reading the environment's health…
      </Typography>
    );
  }
  if (!value) {
    return (
      <Alert severity="warning">
        Environment health unknown: {reasonOf(error)}. Reload the page; if it
        persists, ask your platform team to check the Kube Delivery backend.
      </Alert>
    );
  }
  const problems = value.findings.filter(f => f.status !== 'ok');
  return (
    <Box aria-label={`Health of ${environment}`} component="section">
      {problems.length === 0 ? (
        <Typography variant="body2" color="textSecondary">
          Environment healthy — cluster, credentials, Istio and gateway checked{' '}
          {relativeTime(value.checkedAt)}.
        </Typography>
      ) : (
        problems.map(finding => (
          <Box mb={1} key={finding.check}>
            <Alert severity={finding.status === 'error' ? 'error' : 'warning'}>
              <strong>{finding.check}:</strong> {finding.message}
              {finding.action && (
                <Typography variant="body2" component="span" display="block">
                  What to do: {finding.action}
                </Typography>
              )}
            </Alert>
          </Box>
        ))
      )}
      {checkError && (
        <Alert severity="error">The check failed: {checkError}</Alert>
      )}
      <Button
        size="small"
        disabled={checking}
        onClick={checkNow}
        aria-label={`Check the health of ${environment} now`}
      >
        {checking ? 'Checking…' : 'Check now'}
      </Button>
    </Box>
  );
}

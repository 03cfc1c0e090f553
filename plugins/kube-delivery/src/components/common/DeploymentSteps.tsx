import Box from '@material-ui/core/Box';
import CircularProgress from '@material-ui/core/CircularProgress';
import Step from '@material-ui/core/Step';
import StepContent from '@material-ui/core/StepContent';
import StepLabel from '@material-ui/core/StepLabel';
import Stepper from '@material-ui/core/Stepper';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import CheckCircleIcon from '@material-ui/icons/CheckCircle';
import ErrorIcon from '@material-ui/icons/Error';
import RemoveCircleOutlineIcon from '@material-ui/icons/RemoveCircleOutline';
import type {
  Deployment,
  DeploymentStep,
} from '@internal/plugin-kube-delivery-common';
import { duration, relativeTime } from './format';

const STATUS_WORDS: Record<DeploymentStep['status'], string> = {
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  skipped: 'skipped',
};

const useStyles = makeStyles(theme => ({
  succeeded: { color: theme.palette.success.main },
}));

function StepIcon({ status }: { status: DeploymentStep['status'] }) {
  const classes = useStyles();
  switch (status) {
    case 'succeeded':
      return (
        <CheckCircleIcon
          className={classes.succeeded}
          titleAccess="succeeded"
        />
      );
    case 'failed':
      return <ErrorIcon color="error" titleAccess="failed" />;
    case 'skipped':
      return <RemoveCircleOutlineIcon color="disabled" titleAccess="skipped" />;
    default:
      return <CircularProgress size={20} aria-label="running" />;
  }
}

/** A deployment in progress: what it does, who started it, and its steps. */
export function DeploymentSteps({ deployment }: { deployment: Deployment }) {
  return (
    <Box mt={1} data-testid={`deployment-${deployment.id}`}>
      <Typography variant="subtitle2">
        {deployment.kind === 'deploy'
          ? 'Deploying'
          : `${capitalise(deployment.kind)}:`}{' '}
        {deployment.version} ({deployment.strategy}) — {deployment.status},
        started by {deployment.createdBy}{' '}
        {relativeTime(deployment.startedAt ?? deployment.createdAt)}
      </Typography>
      <StepList deployment={deployment} />
    </Box>
  );
}

/** The steps of a deployment run, each with its status and duration. */
export function StepList({ deployment }: { deployment: Deployment }) {
  const running = deployment.steps.findIndex(s => s.status === 'running');
  const activeStep = running >= 0 ? running : deployment.steps.length;
  if (deployment.steps.length === 0) {
    return (
      <Typography variant="body2" color="textSecondary">
        {['queued', 'running'].includes(deployment.status)
          ? 'Waiting for the runner to pick it up.'
          : (deployment.status === 'waiting-approval' &&
              'Waiting for approval: it runs once approved.') ||
            'No steps were recorded.'}
      </Typography>
    );
  }
  return (
    <Stepper
      orientation="vertical"
      activeStep={activeStep}
      aria-label={`Steps of the ${deployment.kind} of ${deployment.version}`}
    >
      {deployment.steps.map(step => (
        <Step
          key={step.name}
          completed={step.status === 'succeeded'}
          expanded={Boolean(step.message)}
        >
          <StepLabel
            error={step.status === 'failed'}
            icon={<StepIcon status={step.status} />}
            optional={
              <Typography variant="caption">
                {STATUS_WORDS[step.status]}
                {step.status !== 'skipped' &&
                  ` · ${duration(step.startedAt, step.finishedAt)}`}
              </Typography>
            }
          >
            {step.name}
          </StepLabel>
          {step.message && (
            <StepContent>
              <Typography variant="body2">{step.message}</Typography>
            </StepContent>
          )}
        </Step>
      ))}
    </Stepper>
  );
}

function capitalise(word: string) {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

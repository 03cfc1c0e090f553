import Box from '@material-ui/core/Box';
import Alert from '@material-ui/lab/Alert';

/** What an action the user started came to, shown until dismissed. */
export type Outcome = { severity: 'success' | 'error'; message: string };

/** The dismissable alert of an action's outcome; nothing while there is none. */
export function OutcomeAlert(props: {
  outcome: Outcome | undefined;
  onClose: () => void;
  /** The margin around the alert, as Box spacing. */
  spacing: { mt: number } | { mb: number };
}) {
  const { outcome, onClose, spacing } = props;
  if (!outcome) return null;
  return (
    <Box {...spacing}>
      <Alert severity={outcome.severity} onClose={onClose}>
        {outcome.message}
      </Alert>
    </Box>
  );
}

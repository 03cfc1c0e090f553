import '@testing-library/jest-dom';
import { configure } from '@testing-library/react';

// The tabs render Material UI on shared CI cores next to other suites; give
// findBy*/waitFor the time a busy machine needs instead of the 1 s default.
configure({ asyncUtilTimeout: 10_000 });

-- Reserved for the device farm (suites, runs, work queue, attempts); filled in by its issue.
SELECT 1;

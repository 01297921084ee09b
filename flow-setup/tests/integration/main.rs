mod ofctl_tests;

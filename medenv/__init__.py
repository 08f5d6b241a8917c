"""medenv: build, train and evaluate medical deep-research agents."""

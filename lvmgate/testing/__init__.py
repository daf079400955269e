"""Helpers for testing lvmgate and projects that use it: throwaway servers, synthetic corpora."""

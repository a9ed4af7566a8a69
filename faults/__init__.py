"""The fault suite (`make faults`): real processes, real failures, on throwaway servers of its own."""

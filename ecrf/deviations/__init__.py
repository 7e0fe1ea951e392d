"""Protocol deviations: visits out of window, missed visits; one log per study."""

"""What every backend's pool needs and no driver provides uniformly.

Small parts a plugin's pool composes: leak detection (:mod:`.leaks`), a bound on waiting
callers (:mod:`.waiters`), jittered lifetimes and reconnect backoff (:mod:`.jitter`), a
maintenance thread (:mod:`.housekeeper`) and reset after ``fork()`` (:mod:`.fork`).
"""

"""The device simulator: the pure device model (`device`) and N of them speaking the contract
from one process and one thread (`simulator`)."""

"""The embedded MQTT broker, a product of its own: the amqtt server run in a thread (`server`),
what is settled before it listens (`startup`), every override of amqtt's internals with its test
(`fixes`), its auth plugin (`plugins`), each connection read as checked packets
(`connection`) by the rules of the wire (`wire`), its log lines (`logs`), its Mosquitto-syntax
configuration (`conf`), access control (`access`, `auth`), retained-message persistence
(`retained`), and the offline administration of broker files shared with Mosquitto (`profile`:
the secure profile; `credentials`: accounts, written atomically with mode 0600)."""

"""Reading checkpoint files and telling their family: headers, shapes, YAML, the families
table, demo models, inspection and loading. May import the engine's face, runtime/ and nets/."""

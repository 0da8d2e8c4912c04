//! The filter language (fields such as `proc.name`, `evt.type`; operators `=`, `contains`,
//! `in`; `and/or/not`), over capture-format's event model. It starts empty: the query-layer
//! issue fills it. It depends on capture-format only, so the recorder's rules and the
//! inspector share one language.

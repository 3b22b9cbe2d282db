"""The libraries a marketer picks from: materials, templates and the audience's tags.

Each module lists what the store and the material library know, in the shape a page or a picker shows it
(the Library pages today, the Compose page's pickers next); none of them calls WeChat.
"""

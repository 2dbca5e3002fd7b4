"""The main screen (screen.py: composition and routing) and the objects that own its work: who is
writing (boot), a part being written (generation), the open story's use cases (story_actions)
and its key table (keys). They use the other screens; no other screen uses them."""

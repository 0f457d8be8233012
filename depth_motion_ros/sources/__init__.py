"""Frame sources (bags, videos, image folders, sequence folders) shared by training and the CLIs."""
